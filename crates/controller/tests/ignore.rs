//! `spec.ignoreDifferences`: a field ignored by JSON pointer, and one owned by an ignored field
//! manager, are changed by hand; the Application stays Synced and, through self-heal and a sync
//! of a later commit, neither change is reverted.

mod common;

use capstan_api::SyncStatus;
use capstan_api::application::Application;
use capstan_testenv::{Content, Tier, commit_files, run};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const LIMITS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: limits\ndata:\n  MAX: \"10\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_fields_changed_by_hand_stay_synced_and_are_never_reverted() -> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-ignore", |ctx| async move {
        let ns = ctx.namespace.clone();
        let files = [
            ("settings.yaml", settings("info")),
            ("limits.yaml", LIMITS.to_owned()),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (repo, url, first, stop) = repository_and_controller(&ctx, &files).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let policy = json!({"automated": {"prune": true, "selfHeal": true}});
        let mut app = application(&ns, "web", &url, policy)?;
        app.spec.ignore_differences = serde_json::from_value(json!([
            {"kind": "ConfigMap", "name": "settings", "jsonPointers": ["/data/LEVEL"]},
            {"kind": "ConfigMap", "managedFieldsManagers": ["autoscaler"]},
        ]))?;
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "web", "synced", |app| {
            at(app, &first) && is_ready(app)
        })
        .await?;

        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let level = json!({"data": {"LEVEL": "debug"}});
        maps.patch("settings", &PatchParams::default(), &Patch::Merge(&level))
            .await?;
        let max = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "limits"},
            "data": {"MAX": "99"}});
        let autoscaler = PatchParams::apply("autoscaler").force();
        maps.patch("limits", &autoscaler, &Patch::Apply(&max))
            .await?;

        // A later commit is synced over both: a sync that did not respect the rules would
        // revert them.
        let other =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  A: \"1\"\n";
        let second = commit_files(
            &repo,
            "main",
            &[("app/other.yaml", Content::File(other))],
            "+",
        )?;
        let synced = until(&apps, "web", "the second commit synced", |app| {
            at(app, &second) && is_ready(app)
        })
        .await?;
        assert_eq!(sync(&synced).map(|s| s.status), Some(SyncStatus::Synced));
        let data = |m: ConfigMap| m.data.unwrap_or_default();
        assert_eq!(
            data(maps.get("settings").await?)["LEVEL"],
            "debug",
            "reverted"
        );
        assert_eq!(data(maps.get("limits").await?)["MAX"], "99", "reverted");
        assert!(
            maps.get_opt("other").await?.is_some(),
            "the commit was not synced"
        );
        let _ = stop.send(());
        Ok(())
    })
    .await
}
