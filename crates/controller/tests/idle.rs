//! A synced Application costs nothing while nothing changes: its refreshes compare again (from
//! the caches, by fingerprint) or see that nothing they depend on changed, and write nothing —
//! no status patch, no Event.

mod common;

use std::time::Duration;

use capstan_api::application::Application;
use capstan_testenv::{Tier, run};
use common::*;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_of_a_synced_application_write_nothing() -> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-idle", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (_, url, first) = repository(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let (context, stop) = controller(&ctx, POLL).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let mut app = application(&ns, "web", &url, json!({"automated": {"prune": true}}))?;
        app.spec.refresh_interval = Some("1s".into());
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "web", "synced", |app| {
            at(app, &first) && is_ready(app)
        })
        .await?;

        // Reconciles counted by the controller's metrics: those that compare and those skipped
        // because nothing changed. A reconcile is counted before it writes status and publishes
        // its Events, and one Application's reconciles never overlap.
        let reconciles = || -> anyhow::Result<f64> {
            let text = context.metrics.encode()?;
            Ok(counted(&text, "success") + counted(&text, "unchanged"))
        };
        let more = |count: f64| async move {
            let deadline = tokio::time::Instant::now() + TIMEOUT;
            while reconciles()? < count {
                anyhow::ensure!(tokio::time::Instant::now() < deadline, "no refreshes");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(())
        };
        // Two more reconciles: the one that wrote the synced status has published its Events
        // (a flaky start: a late Event of the sync was counted as a write while idle).
        more(reconciles()? + 2.0).await?;
        // Then three more (refreshes, 1 s apart) must write nothing.
        let mark = ctx.audit()?.mark();
        more(reconciles()? + 3.0).await?;
        let audit = ctx.audit()?.since(mark);
        let writes: Vec<String> = audit
            .iter()
            .filter(|e| e.is_write() && e.namespace() == Some(ns.as_str()))
            .map(|e| format!("{} {} by {}", e.verb, e.request_uri, e.user()))
            .collect();
        // Regression: a merge patch kept a health message the new status left out, so every
        // refresh found the stored status different and wrote it again.
        assert!(writes.is_empty(), "writes while idle: {writes:#?}");
        let _ = stop.send(());
        Ok(())
    })
    .await
}
