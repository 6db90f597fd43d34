//! Fingerprints learnt by a compare: when another writer adds a field Capstan does not manage
//! (as kube-controller-manager adds `deployment.kubernetes.io/revision` to a Deployment after
//! it is applied), one dry-run finds the object still in sync, and its new fingerprint is kept,
//! so later compares and syncs know it unchanged without dry-running it again.

mod common;

use capstan_api::application::Application;
use capstan_testenv::{Content, Tier, commit_files, run};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const OTHER: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  A: \"1\"\n";

/// The recorded fingerprints of the ConfigMap `settings`, from status.
fn settings_fingerprints(app: &Application) -> Option<String> {
    let inventory = &app.status.as_ref()?.inventory;
    let entry = inventory.iter().find(|e| e.name == "settings")?;
    entry.applied.as_ref().map(|a| format!("{a:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_another_writer_annotated_is_dry_run_once_then_known_unchanged()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-fingerprints", |ctx| async move {
        let ns = ctx.namespace.clone();
        let files = [("settings.yaml", settings("info")), ("other.yaml", OTHER.to_owned())];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (repo, url, first, stop) = repository_and_controller(&ctx, &files).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let policy = json!({"automated": {"prune": true, "selfHeal": true}});
        apps.create(&PostParams::default(), &application(&ns, "web", &url, policy)?)
            .await?;
        let synced = until(&apps, "web", "synced", |app| at(app, &first) && is_ready(app)).await?;
        let recorded = settings_fingerprints(&synced);

        // Another writer adds an annotation: the live object changes, the desired one does not.
        let mark = ctx.audit()?.mark();
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let note = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings",
            "annotations": {"example.com/revision": "2"}}});
        maps.patch("settings", &PatchParams::apply("other-controller"), &Patch::Apply(&note))
            .await?;
        until(&apps, "web", "the new fingerprint kept", |app| {
            settings_fingerprints(app).is_some_and(|f| Some(&f) != recorded.as_ref())
        })
        .await?;

        // A commit changing another object: its sync compares `settings` again.
        let second = commit_files(&repo, "main", &[("app/other.yaml", Content::File(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  A: \"2\"\n",
        ))], "other")?;
        until(&apps, "web", "the second commit synced", |app| at(app, &second) && is_ready(app))
            .await?;
        let dry_runs = ctx.audit()?.since(mark).count(|e| {
            e.is_dry_run() && e.object_ref.as_ref().and_then(|o| o.name.as_deref()) == Some("settings")
        });
        assert_eq!(dry_runs, 1, "settings dry-run again after its fingerprint was learnt");
        let _ = stop.send(());
        Ok(())
    })
    .await
}
