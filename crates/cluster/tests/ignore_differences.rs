//! `ignoreDifferences` against the real API server: a field only another manager owns (replicas
//! under an HPA) is neither reported nor reverted when ignored — by JSON pointer or by manager —
//! and is reported when not ignored.

use capstan_cluster::compare::diff_all;
use capstan_cluster::prepare::located;
use capstan_cluster::{Catalog, Prepared, SyncRequest, live, prepare, sync};
use capstan_core::diff::DiffState;
use capstan_core::ignore::IgnoreRule;
use capstan_core::inventory::Inventory;
use capstan_core::options::SyncOptions;
use capstan_core::tracking::AppId;
use capstan_testenv::{TestContext, Tier, run};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn web() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
        }
    })
}

fn request(app: &AppId, ignore: Vec<IgnoreRule>) -> SyncRequest {
    SyncRequest {
        ignore,
        ..SyncRequest::new(app, "")
    }
}

/// The cluster's resources and `web`, prepared for `app`.
async fn prepared_web(ctx: &TestContext, app: &AppId) -> anyhow::Result<(Catalog, Vec<Prepared>)> {
    let catalog = Catalog::discover(&ctx.client).await?;
    let options = SyncOptions::default();
    let prepared = prepare(vec![web()], &catalog, &ctx.namespace, app, options)?;
    Ok((catalog, prepared))
}

/// The diff state of `web` under `rules`, and the text of its diff.
async fn diff_web(
    ctx: &TestContext,
    app: &AppId,
    rules: &[IgnoreRule],
) -> anyhow::Result<(DiffState, String)> {
    let (_, prepared) = prepared_web(ctx, app).await?;
    let live = live::fetch(&ctx.client, &located(&prepared), 4).await?;
    let mut diffs = diff_all(&ctx.client, &prepared, &live, rules, 4).await?;
    let diff = diffs.pop().ok_or_else(|| anyhow::anyhow!("no diff"))?;
    Ok((diff.state, diff.diff))
}

async fn sync_web(ctx: &TestContext, app: &AppId, rules: Vec<IgnoreRule>) -> anyhow::Result<()> {
    let (mut catalog, prepared) = prepared_web(ctx, app).await?;
    let previous = Inventory::default();
    let request = request(app, rules);
    let (outcome, _) = sync(&ctx.client, &mut catalog, prepared, &previous, &request).await?;
    anyhow::ensure!(outcome.succeeded(), "{outcome:?}");
    Ok(())
}

#[tokio::test]
async fn replicas_owned_by_an_autoscaler_are_left_alone_when_ignored() -> anyhow::Result<()> {
    run(Tier::ApiServer, "ignore-hpa-replicas", |ctx| async move {
        let app = AppId::parse(&format!("{}/web", ctx.namespace))?;
        sync_web(&ctx, &app, Vec::new()).await?;
        // The autoscaler (part of kube-controller-manager) scales through the scale subresource.
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let hpa = PatchParams {
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        };
        deployments
            .patch_scale("web", &hpa, &Patch::Merge(json!({"spec": {"replicas": 5}})))
            .await?;

        let (state, text) = diff_web(&ctx, &app, &[]).await?;
        assert_eq!(
            state,
            DiffState::Modified,
            "not ignored, the scale-up is drift"
        );
        assert!(
            text.contains("-  replicas: 5") && text.contains("+  replicas: 2"),
            "{text}"
        );

        let by_pointer = IgnoreRule {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        };
        let by_manager = IgnoreRule {
            kind: "*".into(),
            managed_fields_managers: vec!["kube-controller-manager".into()],
            ..Default::default()
        };
        for rule in [by_pointer, by_manager] {
            let (state, text) = diff_web(&ctx, &app, std::slice::from_ref(&rule)).await?;
            assert_eq!(state, DiffState::Unchanged, "{rule:?}\n{text}");
            sync_web(&ctx, &app, vec![rule.clone()]).await?;
            let live = deployments.get("web").await?;
            assert_eq!(
                live.spec.and_then(|s| s.replicas),
                Some(5),
                "apply reverted the autoscaler ({rule:?})"
            );
        }
        Ok(())
    })
    .await
}
