//! `/metrics` stays the same size whatever the number of Applications: no label carries an
//! Application's name, so 100 Applications expose exactly the series 10 do.

mod common;

use std::time::Duration;

use capstan_testenv::{Content, Tier, run};
use common::{app, eventually, free_port, http_get};
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;

/// The series `/metrics` exposes: every sample line's name and labels.
async fn series(port: u16) -> anyhow::Result<Vec<String>> {
    let body = http_get(port, "/metrics").await?;
    let (_, body) = body.split_once("\r\n\r\n").unwrap_or(("", &body));
    Ok(body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect())
}

/// Creates Applications `app-{i}` for `range`, each deploying directory `app-{i}`.
async fn create(
    apps: &Api<DynamicObject>,
    template: &serde_json::Value,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    for i in range {
        let mut app = template.clone();
        app["metadata"]["name"] = json!(format!("app-{i}"));
        app["metadata"]["resourceVersion"] = serde_json::Value::Null;
        app["metadata"]["uid"] = serde_json::Value::Null;
        app["metadata"]["managedFields"] = serde_json::Value::Null;
        app["metadata"]["finalizers"] = serde_json::Value::Null;
        app["metadata"]["creationTimestamp"] = serde_json::Value::Null;
        app["status"] = serde_json::Value::Null;
        app["spec"]["source"]["path"] = json!(format!("app-{i}"));
        apps.create(&PostParams::default(), &serde_json::from_value(app)?)
            .await?;
    }
    Ok(())
}

/// Waits until the `capstan_applications` gauge counts `n` Synced and Healthy Applications.
async fn all_synced(port: u16, n: usize) -> anyhow::Result<()> {
    let line = format!("capstan_applications{{sync=\"Synced\",health=\"Healthy\"}} {n}");
    eventually(
        &format!("{n} Applications synced"),
        Duration::from_secs(120),
        || async {
            // Until the controller listens, the connection is refused: not yet.
            let body = http_get(port, "/metrics").await.unwrap_or_default();
            Ok(body.lines().any(|l| l == line).then_some(()))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_series_do_not_grow_with_the_number_of_applications() -> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-metrics", |ctx| async move {
        let maps: Vec<(String, String)> = (0..100)
            .map(|i| {
                let path = if i == 0 { "app".to_owned() } else { format!("app-{i}") };
                let text = format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  I: \"{i}\"\n"
                );
                (format!("{path}/cm.yaml"), text)
            })
            .collect();
        let files: Vec<(&str, Content<'_>)> =
            maps.iter().map(|(p, t)| (p.as_str(), Content::File(t))).collect();
        let policy = json!({"automated": {"prune": true}});
        app::install_crd(&ctx.client).await?;
        let repo = app::private_repository_of(&ctx, &files).await?;
        app::create_application(&ctx, "web", &repo.url, json!({"syncPolicy": policy})).await?;
        let apps = app::applications(&ctx);
        let port = free_port()?;
        let _controller = app::spawn_controller(&ctx, &ctx.capstan_kubeconfig, port, &[])?;
        let template = common::get(&apps, "web")
            .await?
            .ok_or_else(|| anyhow::anyhow!("no Application web"))?;

        create(&apps, &template, 1..10).await?;
        all_synced(port, 10).await?;
        let ten = series(port).await?;
        create(&apps, &template, 10..100).await?;
        all_synced(port, 100).await?;
        let hundred = series(port).await?;
        assert!(!ten.is_empty(), "no series");
        assert_eq!(hundred, ten, "the series changed with the number of Applications");
        Ok(())
    })
    .await
}
