//! The Application controller end to end against a real API server and a real git server with
//! basic auth: an Application for an overlay in a private repository becomes Synced, Healthy and
//! Ready at the pushed commit; a new commit is synced once the refresh annotation is set.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use capstan_api::application::{Application, ConditionStatus, ConditionType};
use capstan_api::{HealthStatus, REFRESH_ANNOTATION, SyncStatus};
use capstan_controller::context::Context;
use capstan_controller::reconcile;
use capstan_testenv::{Content, GitServers, TestContext, Tier, commit_files, run};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository poll interval of the tests' controllers.
const POLL: Duration = Duration::from_secs(1);

fn settings(level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LEVEL: {level}\n"
    )
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80}\n";

/// Waits until `check` holds for the Application, failing with its last status.
async fn until(
    apps: &Api<Application>,
    name: &str,
    what: &str,
    check: impl Fn(&Application) -> bool,
) -> anyhow::Result<Application> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let app = apps.get(name).await?;
        if check(&app) {
            return Ok(app);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}; status: {:#?}", app.status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn install_crd(ctx: &TestContext) -> anyhow::Result<()> {
    let crds = capstan_testenv::crd_api(&ctx.client);
    let setup = PatchParams::apply("test-setup").force();
    crds.patch(
        "applications.capstan.dev",
        &setup,
        &Patch::Apply(capstan_api::crd::application_crd()),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_for_a_private_repository_becomes_synced_healthy_and_ready()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-synced", |ctx| async move {
        let ns = ctx.namespace.clone();
        let files = [
            (
                "kustomization.yaml",
                "resources: [settings.yaml, service.yaml]\n".to_owned(),
            ),
            ("settings.yaml", settings("info")),
            ("service.yaml", SERVICE.to_owned()),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (repo, url, first, stop) = repository_and_controller(&ctx, &files).await?;

        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let policy = json!({"automated": {"prune": true, "selfHeal": true}});
        let app = application(&ns, "web", &url, policy)?;
        apps.create(&PostParams::default(), &app).await?;

        let ready = |app: &Application| {
            app.status.as_ref().is_some_and(|s| {
                s.condition(ConditionType::Ready)
                    .is_some_and(|c| c.status == ConditionStatus::True)
            })
        };
        let synced = until(&apps, "web", "Ready=True", ready).await?;
        let status = synced.status.context("status")?;
        let sync = status.sync.clone().context("sync")?;
        assert_eq!(
            (sync.status, sync.revision.as_deref()),
            (SyncStatus::Synced, Some(first.as_str()))
        );
        assert_eq!(status.health.map(|h| h.status), Some(HealthStatus::Healthy));
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        assert_eq!(
            maps.get("settings").await?.data.unwrap_or_default()["LEVEL"],
            "info"
        );
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(ctx.client.clone(), &ns);
        let reasons: Vec<String> = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
            .filter_map(|e| e.reason)
            .collect();
        for reason in ["SyncStarted", "Synced", "HealthChanged"] {
            assert!(
                reasons.iter().any(|r| r == reason),
                "no {reason} Event: {reasons:?}"
            );
        }

        // A new commit, noticed at once through the refresh annotation.
        let second = commit_files(
            &repo,
            "main",
            &[("app/settings.yaml", Content::File(&settings("debug")))],
            "debug",
        )?;
        let refresh = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "now"}}});
        apps.patch("web", &PatchParams::default(), &Patch::Merge(&refresh))
            .await?;
        until(&apps, "web", "the second commit synced", |app| {
            app.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .and_then(|s| s.revision.as_deref())
                == Some(second.as_str())
                && ready(app)
        })
        .await?;
        assert_eq!(
            maps.get("settings").await?.data.unwrap_or_default()["LEVEL"],
            "debug"
        );

        let _ = stop.send(());
        Ok(())
    })
    .await
}

/// A repository with `files` under `app/`, a Secret `repo` with its credentials in the test's
/// namespace, and a controller for that namespace. Returns the repository, its URL, the first
/// commit, and what stops the controller.
async fn repository_and_controller(
    ctx: &TestContext,
    files: &[(&str, &str)],
) -> anyhow::Result<(
    std::path::PathBuf,
    String,
    String,
    tokio::sync::oneshot::Sender<()>,
)> {
    let ns = ctx.namespace.clone();
    install_crd(ctx).await?;
    let servers = GitServers::shared().await?;
    let repo_name = format!("{ns}.git");
    let repo = servers.create_repo(&repo_name)?;
    let contents: Vec<(String, Content<'_>)> = files
        .iter()
        .map(|(path, text)| (format!("app/{path}"), Content::File(text)))
        .collect();
    let contents: Vec<(&str, Content<'_>)> =
        contents.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    let first = commit_files(&repo, "main", &contents, "first")?;
    let (user, password) = servers.http_credentials();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "repo"}, "stringData": {"username": user, "password": password}}))?;
    secrets.create(&PostParams::default(), &secret).await?;
    let git_dir = servers.dir().join("controller-cache").join(&ns);
    let mut context = Context::new(ctx.client.clone(), git_dir).await?;
    context.poll_interval = POLL;
    let admin = kube::config::Kubeconfig::read_from(&ctx.admin_kubeconfig)?;
    let options = kube::config::KubeConfigOptions::default();
    context.impersonation = Some(kube::Config::from_custom_kubeconfig(admin, &options).await?);
    let context = Arc::new(context);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        reconcile::run(context, Some(&ns), async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok((repo, servers.http_url(&repo_name), first, stop))
}

/// An Application `name` in `ns` for the `app` directory of the repository at `url`, with the
/// Secret `repo`, deploying to `ns`, with the given `syncPolicy`.
fn application(
    ns: &str,
    name: &str,
    url: &str,
    sync_policy: serde_json::Value,
) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"source": {"repoURL": url, "targetRevision": "main", "path": "app",
                "secretRef": {"name": "repo"}},
            "destination": {"namespace": ns},
            "syncPolicy": sync_policy},
    }))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_sync_runs_once_is_recorded_and_a_broken_commit_changes_nothing()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-operation", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (repo, url, first, stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        // No sync policy: the controller compares and reports, and applies nothing by itself.
        let app = application(&ns, "manual", &url, json!(null))?;
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "manual", "OutOfSync at the first commit", |app| {
            app.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .is_some_and(|s| {
                    s.status == SyncStatus::OutOfSync
                        && s.revision.as_deref() == Some(first.as_str())
                })
        })
        .await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        assert!(
            maps.get_opt("settings").await?.is_none(),
            "applied without a policy or request"
        );

        let request =
            json!({"operation": {"initiatedBy": {"username": "jane"}, "sync": {"prune": true}}});
        apps.patch("manual", &PatchParams::default(), &Patch::Merge(&request))
            .await?;
        let done = until(
            &apps,
            "manual",
            "the requested sync to succeed and be cleared",
            |app| {
                app.operation.is_none()
                    && app
                        .status
                        .as_ref()
                        .and_then(|s| s.operation_state.as_ref())
                        .is_some_and(|op| op.phase == capstan_api::OperationPhase::Succeeded)
            },
        )
        .await?;
        let history = done.status.map(|s| s.history).unwrap_or_default();
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(
            history[0]
                .initiated_by
                .as_ref()
                .map(|b| b.username.as_str()),
            Some("jane")
        );
        let before = maps.get("settings").await?;

        // A commit that does not render: Ready=False naming the file; nothing in the cluster moves.
        commit_files(
            &repo,
            "main",
            &[("app/settings.yaml", Content::File("data: [unclosed\n"))],
            "broken",
        )?;
        let refresh = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "broken"}}});
        apps.patch("manual", &PatchParams::default(), &Patch::Merge(&refresh))
            .await?;
        let failed = until(
            &apps,
            "manual",
            "Ready=False for the broken commit",
            |app| {
                app.status
                    .as_ref()
                    .and_then(|s| s.condition(ConditionType::Ready))
                    .is_some_and(|c| {
                        c.status == ConditionStatus::False && c.message.contains("settings.yaml")
                    })
            },
        )
        .await?;
        let ready = failed
            .status
            .as_ref()
            .and_then(|s| s.condition(ConditionType::Ready))
            .cloned();
        assert_eq!(
            ready.map(|c| c.reason),
            Some(capstan_api::Reason::RenderFailed)
        );
        let after = maps.get("settings").await?;
        assert_eq!(
            (after.metadata.uid, after.metadata.resource_version),
            (before.metadata.uid, before.metadata.resource_version),
            "a broken commit changed the cluster"
        );
        let _ = stop.send(());
        Ok(())
    })
    .await
}

/// An automated Application at its first commit, Ready, with `selfHeal` as given.
async fn synced_app(
    ctx: &TestContext,
    automated: serde_json::Value,
) -> anyhow::Result<(Api<Application>, tokio::sync::oneshot::Sender<()>)> {
    let ns = ctx.namespace.clone();
    let (_, url, _, stop) =
        repository_and_controller(ctx, &[("settings.yaml", &settings("info"))]).await?;
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
    let app = application(&ns, "web", &url, json!({"automated": automated}))?;
    apps.create(&PostParams::default(), &app).await?;
    until(&apps, "web", "Ready=True", |app| {
        app.status
            .as_ref()
            .and_then(|s| s.condition(ConditionType::Ready))
            .is_some_and(|c| c.status == ConditionStatus::True)
    })
    .await?;
    Ok((apps, stop))
}

/// How soon a change to a managed object must show.
const DRIFT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_object_deleted_by_hand_is_recreated_within_seconds_with_self_heal()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-self-heal", |ctx| async move {
        let (_apps, stop) = synced_app(&ctx, json!({"prune": true, "selfHeal": true})).await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let before = maps.get("settings").await?.metadata.uid;
        maps.delete("settings", &Default::default()).await?;
        let deadline = tokio::time::Instant::now() + DRIFT;
        loop {
            if let Some(again) = maps.get_opt("settings").await? {
                assert_ne!(again.metadata.uid, before, "the same object?");
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "not recreated within {DRIFT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_self_heal_a_deleted_object_is_reported_out_of_sync_and_not_recreated()
-> anyhow::Result<()> {
    run(
        Tier::ApiServer,
        "controller-no-self-heal",
        |ctx| async move {
            let (apps, stop) = synced_app(&ctx, json!({"prune": true, "selfHeal": false})).await?;
            let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
            maps.delete("settings", &Default::default()).await?;
            let started = tokio::time::Instant::now();
            until(&apps, "web", "OutOfSync", |app| {
                app.status
                    .as_ref()
                    .and_then(|s| s.sync.as_ref())
                    .is_some_and(|s| s.status == SyncStatus::OutOfSync)
            })
            .await?;
            assert!(
                started.elapsed() < DRIFT,
                "OutOfSync only after {:?}",
                started.elapsed()
            );
            assert!(
                maps.get_opt("settings").await?.is_none(),
                "recreated without self-heal"
            );
            let _ = stop.send(());
            Ok(())
        },
    )
    .await
}

/// `dependsOn`: B waits, saying on what, until A is Ready; A's status change (not a poll) wakes
/// B, which then syncs within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_application_waits_for_its_dependency_then_syncs_within_seconds()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-depends-on", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (_, url, _, stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let app = |name: &str,
                   destination: &str,
                   depends_on: serde_json::Value|
         -> anyhow::Result<Application> {
            Ok(serde_json::from_value(json!({
                "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"source": {"repoURL": url, "targetRevision": "main", "path": "app",
                        "secretRef": {"name": "repo"}},
                    "destination": {"namespace": destination},
                    "dependsOn": depends_on,
                    "syncPolicy": {"automated": {"prune": true},
                        "syncOptions": ["CreateNamespace=true"]}},
            }))?)
        };
        let later = format!("{ns}-b");
        apps.create(
            &PostParams::default(),
            &app("b", &later, json!([{"name": "a"}]))?,
        )
        .await?;
        let ready_reason = |app: &Application| {
            app.status
                .as_ref()
                .and_then(|s| s.condition(ConditionType::Ready))
                .map(|c| (c.status, c.reason))
        };
        let waiting = until(&apps, "b", "b waiting for a", |app| {
            ready_reason(app)
                == Some((
                    ConditionStatus::False,
                    capstan_api::Reason::DependencyNotReady,
                ))
        })
        .await?;
        let names: Vec<String> = waiting
            .status
            .map(|s| s.waiting_for)
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["a"]);

        apps.create(&PostParams::default(), &app("a", &ns, json!([]))?)
            .await?;
        let is_ready =
            |app: &Application| ready_reason(app).is_some_and(|(s, _)| s == ConditionStatus::True);
        until(&apps, "a", "a Ready", is_ready).await?;
        let a_ready = tokio::time::Instant::now();
        until(&apps, "b", "b Ready", is_ready).await?;
        assert!(
            a_ready.elapsed() < Duration::from_secs(2),
            "b synced {:?} after a was Ready",
            a_ready.elapsed()
        );
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &later);
        assert!(maps.get_opt("settings").await?.is_some());
        let _ = stop.send(());
        Ok(())
    })
    .await
}

/// Deleting an Application deletes its objects only when its policy prunes; otherwise they stay.
async fn delete_app_then_check(prune: bool) -> anyhow::Result<()> {
    let name = if prune {
        "controller-delete-prune"
    } else {
        "controller-delete-keep"
    };
    run(Tier::ApiServer, name, |ctx| async move {
        let (apps, stop) = synced_app(&ctx, json!({"prune": prune})).await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let before = maps.get("settings").await?.metadata.uid;
        apps.delete("web", &Default::default()).await?;
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while apps.get_opt("web").await?.is_some() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the Application was never deleted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left = maps.get_opt("settings").await?.and_then(|m| m.metadata.uid);
        if prune {
            assert_eq!(
                left, None,
                "a pruning Application's object survived its deletion"
            );
        } else {
            assert_eq!(left, before, "an object was deleted without prune");
        }
        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_that_prunes_deletes_its_objects() -> anyhow::Result<()> {
    delete_app_then_check(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_that_does_not_prune_keeps_its_objects() -> anyhow::Result<()> {
    delete_app_then_check(false).await
}

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
        let revision = |app: &Application| {
            app.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .and_then(|s| s.revision.clone())
        };
        until(&apps, "web", "the first sync", |app| {
            revision(app).is_some()
        })
        .await?;
        let second = commit_files(
            &repo,
            "main",
            &[("app/settings.yaml", Content::File(&settings("debug")))],
            "debug",
        )?;
        let pushed = tokio::time::Instant::now();
        until(&apps, "web", "the pushed commit", |app| {
            revision(app).as_deref() == Some(second.as_str())
        })
        .await?;
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
            let ready_reason = |app: &Application| {
                app.status
                    .as_ref()
                    .and_then(|s| s.condition(ConditionType::Ready))
                    .map(|c| (c.status, c.reason))
            };
            let ready = |app: &Application| {
                ready_reason(app).is_some_and(|(s, _)| s == ConditionStatus::True)
            };
            until(&apps, "web", "web Ready", ready).await?;

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
                app.status
                    .as_ref()
                    .and_then(|s| s.sync.as_ref())
                    .and_then(|s| s.revision.as_deref())
                    == Some(second.as_str())
                    && ready(app)
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
            let message = refused
                .status
                .and_then(|s| s.condition(ConditionType::Ready).cloned())
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
            app.status.as_ref().and_then(|s| s.condition(ConditionType::Ready)).is_some_and(|c| {
                c.status == ConditionStatus::False && c.reason == capstan_api::Reason::Forbidden
            })
        })
        .await?;
        let message = refused.status.and_then(|s| s.condition(ConditionType::Ready).cloned()).map(|c| c.message).unwrap_or_default();
        assert!(message.contains("elsewhere"), "{message}");
        let there: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &other);
        assert!(there.get_opt("elsewhere").await?.is_none(), "applied where the account has no rights");
        let _ = stop.send(());
        Ok(())
    })
    .await
}
