//! Unchanged objects cost nothing, yet nothing is missed, against the real API server: the
//! inventory keeps fingerprints of each object's last apply; while neither git nor the cluster
//! changed an object it is skipped, but a field dropped from git is still released and an edit
//! by another field manager is still found and reverted.

mod common;

use capstan_testenv::{Tier, run};
use common::{api, changed_lines, expect_exit, get, write_dir};
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn settings(data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n{data}")
}

#[tokio::test]
async fn a_field_dropped_from_git_is_released_from_an_object_known_unchanged() -> anyhow::Result<()>
{
    run(
        Tier::ApiServer,
        "fingerprint-drop-field",
        |ctx| async move {
            let ns = ctx.namespace.clone();
            let app = ["--app-id", &format!("{ns}/app")].map(str::to_owned);
            let app: Vec<&str> = app.iter().map(String::as_str).collect();
            let both = write_dir(
                &ctx,
                "v1",
                &[("cm.yaml", &settings("  a: \"1\"\n  b: \"2\"\n"))],
            )?;
            expect_exit(&ctx, "apply", &both, &ns, &app, 0).await?;
            let again = expect_exit(&ctx, "apply", &both, &ns, &app, 0).await?;
            assert_eq!(again.trim(), format!("ConfigMap {ns}/settings unchanged"));
            expect_exit(&ctx, "diff", &both, &ns, &app, 0).await?;

            let only_a = write_dir(&ctx, "v2", &[("cm.yaml", &settings("  a: \"1\"\n"))])?;
            let diff = expect_exit(&ctx, "diff", &only_a, &ns, &app, 1).await?;
            assert_eq!(changed_lines(&diff), ["-  b: \"2\""], "{diff}");
            let out = expect_exit(&ctx, "apply", &only_a, &ns, &app, 0).await?;
            assert_eq!(out.trim(), format!("ConfigMap {ns}/settings configured"));
            let cms = api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
            let live = get(&cms, "settings").await?.expect("settings exists");
            assert_eq!(live["data"], json!({"a": "1"}), "b was not released");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn an_edit_by_another_manager_is_found_and_reverted_despite_the_fingerprints()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "fingerprint-drift", |ctx| async move {
        let ns = ctx.namespace.clone();
        let app = ["--app-id", &format!("{ns}/app")].map(str::to_owned);
        let app: Vec<&str> = app.iter().map(String::as_str).collect();
        let dir = write_dir(&ctx, "app", &[("cm.yaml", &settings("  a: \"1\"\n"))])?;
        expect_exit(&ctx, "apply", &dir, &ns, &app, 0).await?;
        expect_exit(&ctx, "apply", &dir, &ns, &app, 0).await?;

        let cms = api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
        let edit = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        cms.patch(
            "settings",
            &edit,
            &Patch::Merge(json!({"data": {"a": "edited"}})),
        )
        .await?;
        let diff = expect_exit(&ctx, "diff", &dir, &ns, &app, 1).await?;
        assert_eq!(
            changed_lines(&diff),
            ["-  a: edited", "+  a: \"1\""],
            "{diff}"
        );
        let out = expect_exit(&ctx, "apply", &dir, &ns, &app, 0).await?;
        assert_eq!(out.trim(), format!("ConfigMap {ns}/settings configured"));
        let live = get(&cms, "settings").await?.expect("settings exists");
        assert_eq!(live["data"]["a"], "1");
        expect_exit(&ctx, "diff", &dir, &ns, &app, 0).await?;
        Ok(())
    })
    .await
}
