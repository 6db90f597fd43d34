//! A controller killed in the middle of a sync resumes it: `capstan controller` is SIGKILLed
//! while the sync waits on wave 0's health, and the next process finishes the same operation —
//! wave 1 applied once, the operation Succeeded, one history entry, nothing recreated.

mod common;

use std::time::Duration;

use capstan_testenv::{Content, Tier, run};
use common::{app, eventually, free_port};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// Wave 0: a Deployment, which never becomes healthy by itself here (no controller manager in
/// this tier: the test writes its status); wave 1: a ConfigMap.
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
  annotations: {capstan.dev/sync-wave: \"0\"}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: example.com/db:1}]
";

const AFTER: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: after
  annotations: {capstan.dev/sync-wave: \"1\"}
data: {READY: \"yes\"}
";

/// The Application's `status.operationState`, once it has one.
async fn operation_state(apps: &Api<DynamicObject>, name: &str) -> anyhow::Result<Option<Value>> {
    let app = common::get(apps, name).await?;
    Ok(app
        .map(|a| a["status"]["operationState"].clone())
        .filter(|s| !s.is_null()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_while_waiting_on_wave_0_resumes_once_after_a_restart() -> anyhow::Result<()>
{
    run(Tier::ApiServer, "controller-restart", |ctx| async move {
        let files = [
            ("app/db.yaml", Content::File(DEPLOYMENT)),
            ("app/after.yaml", Content::File(AFTER)),
        ];
        let policy = json!({"automated": {"prune": true}});
        app::install_crd(&ctx.client).await?;
        let repo = app::private_repository_of(&ctx, &files).await?;
        app::create_application(&ctx, "web", &repo.url, json!({"syncPolicy": policy})).await?;
        let apps = app::applications(&ctx);
        let ns = ctx.namespace.clone();
        let mut first = app::spawn_controller(&ctx, &ctx.capstan_kubeconfig, free_port()?, &[])?;

        // The sync is running and waits on wave 0's health (its status says so).
        let wait = Duration::from_secs(60);
        let waiting = eventually("the sync to wait on wave 0", wait, || async {
            let state = operation_state(&apps, "web").await?;
            Ok(state.filter(|s| s["phase"] == "Running" && s["wave"] == 0))
        })
        .await;
        if let Err(err) = waiting {
            let app = common::get(&apps, "web").await?;
            anyhow::bail!("{err}; the Application: {}", serde_json::to_string(&app)?);
        }
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        let before = deployments.get("db").await?.metadata.uid;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        assert!(
            maps.get_opt("after").await?.is_none(),
            "wave 1 applied before wave 0 was healthy"
        );

        first.start_kill()?;
        first.wait().await?;
        let mark = ctx.audit()?.mark();
        let _second = app::spawn_controller(&ctx, &ctx.capstan_kubeconfig, free_port()?, &[])?;
        let status = json!({"status": {"observedGeneration": 1, "replicas": 1,
            "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}]}});
        deployments
            .patch_status("db", &PatchParams::default(), &Patch::Merge(&status))
            .await?;

        let state = eventually("the operation to succeed", wait, || async {
            let state = operation_state(&apps, "web").await?;
            Ok(state.filter(|s| s["phase"] == "Succeeded"))
        })
        .await?;
        assert_eq!(state["operation"]["prune"], true, "{state}");
        let app = common::get(&apps, "web").await?.unwrap_or_default();
        let history = app["status"]["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(history.len(), 1, "{history:?}");
        // Who started it survives the restart (regression: a resumed sync lost its initiator).
        assert_eq!(history[0]["initiatedBy"]["automated"], true, "{history:?}");
        assert_eq!(
            maps.get("after").await?.data.unwrap_or_default()["READY"],
            "yes"
        );
        assert_eq!(
            deployments.get("db").await?.metadata.uid,
            before,
            "db was recreated"
        );

        // Wave 1 was written once, by the second process; the Deployment was not written again.
        let writes = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
        let written = |name: &str| {
            writes.count(|e| {
                e.is_write()
                    && !e.is_dry_run()
                    && e.object_ref.as_ref().and_then(|o| o.name.as_deref()) == Some(name)
                    && e.object_ref
                        .as_ref()
                        .and_then(|o| o.subresource.as_deref())
                        .is_none()
            })
        };
        assert_eq!(written("after"), 1, "wave 1 writes");
        assert_eq!(written("db"), 0, "wave 0 written again");
        Ok(())
    })
    .await
}
