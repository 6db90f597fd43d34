//! The controller end to end, continued: the repository poll, retries per `syncPolicy.retry`,
//! credentials (rotation, a wrong password, another tenant on the same repository) and least
//! privilege (writes as the Application's service account).

mod common;

use capstan_api::application::{Application, ConditionStatus};
use capstan_testenv::{Content, GitServers, Tier, commit_files, run};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// No webhook, no refresh annotation: a pushed commit is noticed by the repository poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_commit_is_synced_within_the_poll_interval_without_a_refresh() -> anyhow::Result<()>
{
    run(Tier::ApiServer, "controller-poll", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (repo, url, _, stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let app = application(&ns, "web", &url, json!({"automated": {"prune": true}}))?;
        apps.create(&PostParams::default(), &app).await?;
        let revision = |app: &Application| sync(app).and_then(|s| s.revision.clone());
        until(&apps, "web", "the first sync", |app| {
            revision(app).is_some()
        })
        .await?;
        let second = push_level(&repo, "debug")?;
        let pushed = tokio::time::Instant::now();
        until(&apps, "web", "the pushed commit", |app| at(app, &second)).await?;
        assert!(
            pushed.elapsed() < POLL * 5,
            "noticed {:?} after the push",
            pushed.elapsed()
        );
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let level = maps.get("settings").await?.data.unwrap_or_default();
        assert_eq!(level["LEVEL"], "debug");
        let _ = stop.send(());
        Ok(())
    })
    .await
}

/// `syncPolicy.retry`: a sync that failed (its destination namespace did not exist) is retried
/// after its backoff, without a new commit, and succeeds once the namespace is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_is_retried_per_its_retry_strategy() -> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-retry", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (_, url, _, stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let missing = format!("{ns}-missing");
        let mut app = application(
            &ns,
            "web",
            &url,
            json!({
                "automated": {"prune": true},
                "retry": {"limit": 10, "backoff": {"duration": "1s", "factor": 1}},
            }),
        )?;
        app.spec.destination.namespace = Some(missing.clone());
        apps.create(&PostParams::default(), &app).await?;
        let phase = |app: &Application| {
            app.status
                .as_ref()
                .and_then(|s| s.operation_state.as_ref())
                .map(|op| (op.phase, op.retry_count))
        };
        until(&apps, "web", "a failed sync", |app| {
            phase(app).is_some_and(|(p, _)| p == capstan_api::OperationPhase::Failed)
        })
        .await?;
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
        let namespace = serde_json::from_value(json!({"metadata": {"name": missing}}))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await?;
        let done = until(&apps, "web", "the retried sync to succeed", |app| {
            phase(app).is_some_and(|(p, _)| p == capstan_api::OperationPhase::Succeeded)
        })
        .await?;
        let retries = phase(&done).map(|(_, n)| n).unwrap_or_default();
        assert!(retries >= 1, "succeeded without a retry: {:?}", done.status);
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &missing);
        assert!(maps.get_opt("settings").await?.is_some());
        let _ = stop.send(());
        Ok(())
    })
    .await
}

/// Credentials of the Application's own Secret: a rotated password (server and Secret) keeps it
/// syncing; a wrong one is reported as an authentication failure within seconds (the Secret's
/// change wakes it); another tenant with wrong credentials on the same private repository never
/// gets its content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_rotate_a_wrong_password_is_reported_and_a_stranger_reads_nothing()
-> anyhow::Result<()> {
    run(
        Tier::ApiServer,
        "controller-credentials",
        |ctx| async move {
            let ns = ctx.namespace.clone();
            let (repo, url, _, stop) =
                repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
            let servers = GitServers::shared().await?;
            let user = format!("alice-{ns}");
            servers.set_http_user(&user, "first-pass-1")?;
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
            let secret = |name: &str, user: &str, password: &str| -> anyhow::Result<Secret> {
                Ok(serde_json::from_value(json!({"metadata": {"name": name},
                "stringData": {"username": user, "password": password}}))?)
            };
            secrets
                .create(
                    &PostParams::default(),
                    &secret("alice", &user, "first-pass-1")?,
                )
                .await?;
            secrets
                .create(
                    &PostParams::default(),
                    &secret("mallory", "mallory", "guess")?,
                )
                .await?;
            let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
            let mut web = application(&ns, "web", &url, json!({"automated": {"prune": true}}))?;
            web.spec.source.secret_ref = Some(capstan_api::application::SecretReference {
                name: "alice".into(),
            });
            apps.create(&PostParams::default(), &web).await?;
            let ready_reason = |app: &Application| ready(app).map(|c| (c.status, c.reason));
            until(&apps, "web", "web Ready", is_ready).await?;

            // Rotation: the server and the Secret change; a new commit is still synced.
            servers.set_http_user(&user, "second-pass-2")?;
            secrets
                .replace(
                    "alice",
                    &PostParams::default(),
                    &secret("alice", &user, "second-pass-2")?,
                )
                .await?;
            let second = commit_files(
                &repo,
                "main",
                &[("app/settings.yaml", Content::File(&settings("debug")))],
                "debug",
            )?;
            until(&apps, "web", "the commit after the rotation", |app| {
                sync(app).and_then(|s| s.revision.as_deref()) == Some(second.as_str())
                    && is_ready(app)
            })
            .await?;

            // A wrong password: reported within seconds, naming the failure.
            secrets
                .replace(
                    "alice",
                    &PostParams::default(),
                    &secret("alice", &user, "wrong-pass-3")?,
                )
                .await?;
            let refused = until(&apps, "web", "an authentication failure", |app| {
                ready_reason(app)
                    == Some((
                        ConditionStatus::False,
                        capstan_api::Reason::AuthenticationFailed,
                    ))
            })
            .await?;
            let message = ready(&refused)
                .cloned()
                .map(|c| c.message)
                .unwrap_or_default();
            assert!(
                !message.contains("wrong-pass-3"),
                "the password leaked into status: {message}"
            );

            // Another tenant with wrong credentials on the same repository gets nothing.
            let elsewhere = format!("{ns}-mallory");
            let mut stranger = application(
                &ns,
                "stranger",
                &url,
                json!({"automated": {"prune": true},
            "syncOptions": ["CreateNamespace=true"]}),
            )?;
            stranger.spec.source.secret_ref = Some(capstan_api::application::SecretReference {
                name: "mallory".into(),
            });
            stranger.spec.destination.namespace = Some(elsewhere.clone());
            apps.create(&PostParams::default(), &stranger).await?;
            until(&apps, "stranger", "the stranger refused", |app| {
                ready_reason(app)
                    == Some((
                        ConditionStatus::False,
                        capstan_api::Reason::AuthenticationFailed,
                    ))
            })
            .await?;
            let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &elsewhere);
            assert!(
                maps.get_opt("settings").await?.is_none(),
                "the stranger got the repository's content"
            );
            let _ = stop.send(());
            Ok(())
        },
    )
    .await
}

/// Least privilege: an Application's objects are compared and written as its
/// `destination.serviceAccountName`; where that account has no rights, the Application is refused
/// (Ready=False, Forbidden) and nothing is applied there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_through_the_applications_service_account_and_stop_where_it_has_no_rights()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-service-account", |ctx| async move {
        let ns = ctx.namespace.clone();
        let other = format!("{ns}-other");
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
        namespaces.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": other}}))?).await?;
        let setup = PatchParams::apply("test-setup");
        let apply = |api_version: &str, kind: &str, plural: &str, body: serde_json::Value| {
            let api = capstan_testenv::api_for(&ctx.client, &ns, api_version, kind, plural);
            let name = body["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            let setup = setup.clone();
            async move { api.patch(&name, &setup, &Patch::Apply(&body)).await.map(|_| ()) }
        };
        apply("v1", "ServiceAccount", "serviceaccounts", json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer"}})).await?;
        apply("rbac.authorization.k8s.io/v1", "Role", "roles", json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "deployer"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]})).await?;
        apply("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "deployer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]})).await?;

        let elsewhere = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: elsewhere\n  namespace: {other}\ndata:\n  A: \"1\"\n");
        let (_, url, _, stop) = repository_and_controller(
            &ctx,
            &[("settings.yaml", &settings("info")), ("elsewhere.yaml", &elsewhere)],
        )
        .await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let mut app = application(&ns, "web", &url, json!({"automated": {"prune": true}}))?;
        app.spec.destination.service_account_name = Some("deployer".into());
        apps.create(&PostParams::default(), &app).await?;
        let refused = until(&apps, "web", "Ready=False, Forbidden", |app| {
            ready(app).is_some_and(|c| {
                c.status == ConditionStatus::False && c.reason == capstan_api::Reason::Forbidden
            })
        })
        .await?;
        let message = ready(&refused).cloned().map(|c| c.message).unwrap_or_default();
        assert!(message.contains("elsewhere"), "{message}");
        let there: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &other);
        assert!(there.get_opt("elsewhere").await?.is_none(), "applied where the account has no rights");
        let _ = stop.send(());
        Ok(())
    })
    .await
}
