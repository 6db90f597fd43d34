//! `destination.kubeConfigSecretRef`: an Application deploying to a second control plane (its
//! own etcd and kube-apiserver) through a kubeconfig in a Secret. Its objects are applied there
//! and nowhere else; it becomes Synced and Healthy; drift there is healed; and an Application
//! naming a service account is written there as that account, by impersonation — refused where
//! that account has no rights there.

mod common;

use std::time::Duration;

use capstan_api::application::Application;
use capstan_testenv::{ADMIN_USER, ControlPlane, TestContext, Tier, run};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;
use tokio::sync::OnceCell;

/// The second control plane, started once for this test binary.
async fn second() -> anyhow::Result<&'static ControlPlane> {
    static SECOND: OnceCell<ControlPlane> = OnceCell::const_new();
    Ok(SECOND
        .get_or_try_init(|| ControlPlane::start(Tier::ApiServer))
        .await?)
}

/// The second control plane's admin kubeconfig, certificates inline (as a Secret must carry
/// them), as YAML.
fn inline_kubeconfig(plane: &ControlPlane) -> anyhow::Result<String> {
    let mut config = Kubeconfig::read_from(plane.admin_kubeconfig())?;
    let inline = |path: &mut Option<String>| -> anyhow::Result<Option<String>> {
        use base64::Engine;
        Ok(match path.take() {
            Some(file) => {
                Some(base64::engine::general_purpose::STANDARD.encode(std::fs::read(file)?))
            }
            None => None,
        })
    };
    for cluster in config
        .clusters
        .iter_mut()
        .filter_map(|c| c.cluster.as_mut())
    {
        if let Some(data) = inline(&mut cluster.certificate_authority)? {
            cluster.certificate_authority_data = Some(data);
        }
    }
    for auth in config
        .auth_infos
        .iter_mut()
        .filter_map(|a| a.auth_info.as_mut())
    {
        if let Some(data) = inline(&mut auth.client_certificate)? {
            auth.client_certificate_data = Some(data);
        }
        if let Some(data) = inline(&mut auth.client_key)? {
            auth.client_key_data = Some(data.into());
        }
    }
    Ok(serde_json::to_string(&config)?)
}

/// The Secret `remote` (the second control plane's kubeconfig) in the test's namespace, and the
/// test's namespace made on the second control plane too.
async fn remote_destination(
    ctx: &TestContext,
    plane: &ControlPlane,
) -> anyhow::Result<kube::Client> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let secret = serde_json::from_value(json!({"metadata": {"name": "remote"},
        "stringData": {"value": inline_kubeconfig(plane)?}}))?;
    secrets.create(&PostParams::default(), &secret).await?;
    let there = plane.client().await?;
    let namespaces: Api<Namespace> = Api::all(there.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": ctx.namespace}}))?;
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(there)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_deploys_to_another_cluster_and_writes_nothing_here() -> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-remote", |ctx| async move {
        let plane = second().await?;
        let ns = ctx.namespace.clone();
        let there = remote_destination(&ctx, plane).await?;
        let here_mark = ctx.audit()?.mark();
        let (_repo, url, first, _stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let policy = json!({"automated": {"prune": true, "selfHeal": true}});
        let mut app = application(&ns, "web", &url, policy.clone())?;
        app.spec.destination.kube_config_secret_ref =
            Some(serde_json::from_value(json!({"name": "remote"}))?);
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "web", "Synced and Healthy there", |app| {
            at(app, &first) && is_ready(app)
        })
        .await?;

        let maps_there: Api<ConfigMap> = Api::namespaced(there.clone(), &ns);
        let maps_here: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let applied = maps_there.get("settings").await?;
        let annotations = applied.metadata.annotations.unwrap_or_default();
        assert_eq!(
            annotations
                .get("capstan.dev/tracking-id")
                .map(String::as_str),
            Some(format!("{ns}/web:/ConfigMap:{ns}/settings").as_str())
        );
        assert!(
            maps_here.get_opt("settings").await?.is_none(),
            "applied here too"
        );
        // No managed object was written here, by anyone: only Applications, Events and the
        // test's own Secrets.
        let here = ctx.audit()?.since(here_mark).in_namespace(&ns);
        let written = here.filter(|e| {
            e.is_write() && !matches!(e.resource(), Some("applications" | "events" | "secrets"))
        });
        assert!(
            written.is_empty(),
            "written in the first cluster:\n{written}"
        );

        // Drift there is seen there and healed.
        maps_there
            .delete("settings", &DeleteParams::default())
            .await?;
        let healed = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if maps_there.get_opt("settings").await?.is_some() {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        healed
            .await
            .map_err(|_| anyhow::anyhow!("not recreated there in 30 s"))??;

        // As a service account there: impersonated, refused without rights there.
        let there_mark = plane.audit()?.mark();
        let mut locked = application(&ns, "locked", &url, policy)?;
        locked.spec.source.path = Some("app".into());
        locked.spec.destination.kube_config_secret_ref =
            app.spec.destination.kube_config_secret_ref.clone();
        locked.spec.destination.service_account_name = Some("deployer".into());
        apps.create(&PostParams::default(), &locked).await?;
        until(&apps, "locked", "refused there", |app| {
            ready(app).is_some_and(|c| c.reason == capstan_api::Reason::Forbidden)
        })
        .await?;
        let account = format!("system:serviceaccount:{ns}:deployer");
        let audit = plane
            .audit_log()
            .read()?
            .since(there_mark)
            .by_user(ADMIN_USER);
        assert!(
            audit.count(|e| e.acting_user() == account) > 0,
            "no request there as {account}:\n{audit}"
        );
        Ok(())
    })
    .await
}
