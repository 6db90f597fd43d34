//! A periodic re-compare that cannot find anything new is skipped — the Application, the commit
//! and every object the watches follow are as they were when everything was found Synced — yet
//! a change to an object or a new commit is seen as before, and the skipping resumes after.

mod common;

use std::time::Duration;

use capstan_api::SyncStatus;
use capstan_api::application::Application;
use capstan_testenv::{Tier, run};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_that_can_find_nothing_new_are_skipped_and_changes_are_still_seen()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-quiet", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (repo, url, first) = repository(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let (context, stop) = controller(&ctx, POLL).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let mut app = application(&ns, "web", &url, json!({"automated": {"prune": true}}))?;
        app.spec.refresh_interval = Some("1s".into());
        apps.create(&PostParams::default(), &app).await?;
        let synced = until(&apps, "web", "synced", |app| {
            at(app, &first) && is_ready(app)
        })
        .await?;
        // The controller keeps Applications without their managedFields; a status it writes from
        // such a copy leaves the stored ones (the creator's, its own status writes') in place.
        let managers = synced.metadata.managed_fields.unwrap_or_default();
        let spec_owner = managers.iter().any(|m| m.subresource.is_none());
        let status_owner = managers
            .iter()
            .any(|m| m.subresource.as_deref() == Some("status"));
        assert!(spec_owner && status_owner, "managedFields: {managers:?}");

        let skipped =
            || -> anyhow::Result<f64> { Ok(counted(&context.metrics.encode()?, "unchanged")) };
        let skipped_more_than = |count: f64| async move {
            let deadline = tokio::time::Instant::now() + TIMEOUT;
            while skipped()? < count + 2.0 {
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "refreshes of an unchanged Application were not skipped"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok::<_, anyhow::Error>(())
        };
        skipped_more_than(0.0).await?;

        // Another manager changes the object: the Application is OutOfSync (no selfHeal).
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let drift = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings"}, "data": {"LEVEL": "debug"}});
        let params = PatchParams::apply("someone-else").force();
        maps.patch("settings", &params, &Patch::Apply(&drift))
            .await?;
        until(&apps, "web", "OutOfSync after the drift", |app| {
            sync(app).is_some_and(|s| s.status == SyncStatus::OutOfSync)
        })
        .await?;

        // A new commit is synced, though the refreshes before it were skipped.
        let second = push_level(&repo, "warn")?;
        until(&apps, "web", "synced at the second commit", |app| {
            at(app, &second)
                && sync(app).is_some_and(|s| s.status == SyncStatus::Synced)
                && is_ready(app)
        })
        .await?;
        let level = maps.get("settings").await?.data.unwrap_or_default();
        assert_eq!(level.get("LEVEL").map(String::as_str), Some("warn"));

        // Synced again: the refreshes are skipped again.
        skipped_more_than(skipped()?).await?;
        let _ = stop.send(());
        Ok(())
    })
    .await
}
