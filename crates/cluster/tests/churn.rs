//! Compare like with like, against the real API server: objects changed by another writer
//! between the read of the live state and the dry-run are not reported as differences
//! (regression: after `capstan apply` of 500 Deployments, `capstan diff` reported three of them
//! with `+ deployment.kubernetes.io/revision: "1"`, which kube-controller-manager wrote between
//! the LIST and the dry-runs — a false OutOfSync under churn).

use capstan_cluster::compare::diff_all;
use capstan_cluster::prepare::located;
use capstan_cluster::{Catalog, SyncRequest, live, prepare, sync};
use capstan_core::diff::DiffState;
use capstan_core::inventory::Inventory;
use capstan_core::options::SyncOptions;
use capstan_core::tracking::AppId;
use capstan_testenv::{Tier, run};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const OBJECTS: usize = 20;

fn config_map(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("churn-{i:02}")}, "data": {"a": "1"}})
}

#[tokio::test]
async fn a_change_by_another_writer_between_the_read_and_the_dry_run_is_no_difference()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "churn", |ctx| async move {
        let app = AppId::parse(&format!("{}/churn", ctx.namespace))?;
        let mut catalog = Catalog::discover(&ctx.client).await?;
        let objects: Vec<Value> = (0..OBJECTS).map(config_map).collect();
        let options = SyncOptions::default();
        let prepared = prepare(objects, &catalog, &ctx.namespace, &app, options)?;
        let request = SyncRequest::new(&app, &ctx.namespace);
        let previous = Inventory::default();
        let (outcome, _) = sync(
            &ctx.client,
            &mut catalog,
            prepared.clone(),
            &previous,
            &request,
        )
        .await?;
        anyhow::ensure!(outcome.succeeded(), "{outcome:?}");

        // The live state is read, then another writer annotates every object, as a controller
        // would, before the dry-runs are made.
        let stale = live::fetch(&ctx.client, &located(&prepared), 8).await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let controller = PatchParams {
            field_manager: Some("kube-controller-manager".into()),
            ..PatchParams::default()
        };
        let annotate = json!({"metadata": {"annotations": {"example.com/revision": "1"}}});
        for i in 0..OBJECTS {
            maps.patch(
                &format!("churn-{i:02}"),
                &controller,
                &Patch::Merge(&annotate),
            )
            .await?;
        }

        let diffs = diff_all(&ctx.client, &prepared, &stale, &[], 8).await?;
        let differing: Vec<String> = diffs
            .iter()
            .filter(|d| d.state != DiffState::Unchanged)
            .map(|d| d.diff.clone())
            .collect();
        assert!(
            differing.is_empty(),
            "{} of {OBJECTS} objects falsely reported:\n{}",
            differing.len(),
            differing.join("\n")
        );
        Ok(())
    })
    .await
}
