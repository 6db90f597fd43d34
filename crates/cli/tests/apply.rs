//! `capstan apply` and `capstan diff` against the real kube-apiserver: drift made by another
//! field manager, and pruning — only what left the desired set, only what this application owns,
//! never on an empty set or a failed render.

mod common;

use capstan_testenv::{Tier, run};
use common::{api, changed_lines, config_map, expect_exit, get, write_dir};
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn a_change_by_another_field_manager_is_drift_and_apply_reverts_it() -> anyhow::Result<()> {
    run(Tier::ApiServer, "drift-other-manager", |ctx| async move {
        let ns = ctx.namespace.clone();
        let dir = write_dir(
            &ctx,
            "app",
            &[("cm.yaml", &config_map("settings", "wanted"))],
        )?;
        let out = expect_exit(&ctx, "apply", &dir, &ns, &[], 0).await?;
        assert_eq!(out.trim(), format!("ConfigMap {ns}/settings created"));
        expect_exit(&ctx, "diff", &dir, &ns, &[], 0).await?;

        let cms = api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
        let edit = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        cms.patch(
            "settings",
            &edit,
            &Patch::Merge(json!({"data": {"key": "edited"}})),
        )
        .await?;

        let diff = expect_exit(&ctx, "diff", &dir, &ns, &[], 1).await?;
        assert_eq!(
            changed_lines(&diff),
            ["-  key: edited", "+  key: wanted"],
            "{diff}"
        );
        let out = expect_exit(&ctx, "apply", &dir, &ns, &[], 0).await?;
        assert_eq!(out.trim(), format!("ConfigMap {ns}/settings configured"));
        let live = get(&cms, "settings").await?.expect("settings exists");
        assert_eq!(live["data"]["key"], "wanted");
        expect_exit(&ctx, "diff", &dir, &ns, &[], 0).await?;
        let again = expect_exit(&ctx, "apply", &dir, &ns, &[], 0).await?;
        assert_eq!(again.trim(), format!("ConfigMap {ns}/settings unchanged"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn prune_deletes_only_owned_objects_that_left_the_desired_set() -> anyhow::Result<()> {
    run(Tier::ApiServer, "prune-owned-only", |ctx| async move {
        let ns = ctx.namespace.clone();
        let app_a = format!("{ns}/a");
        let app_b = format!("{ns}/b");
        let cms = api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
        let all = write_dir(
            &ctx,
            "all",
            &[
                ("keep.yaml", &config_map("keep", "1")),
                ("gone.yaml", &config_map("gone", "1")),
                ("shared.yaml", &config_map("shared", "1")),
            ],
        )?;
        expect_exit(&ctx, "apply", &all, &ns, &["--app-id", &app_a], 0).await?;
        // `shared` leaves a (without prune, so it stays in a's inventory), is deleted by hand and
        // created again by application b: its tracking id now names b.
        let without_shared = write_dir(
            &ctx,
            "a2",
            &[
                ("keep.yaml", &config_map("keep", "1")),
                ("gone.yaml", &config_map("gone", "1")),
            ],
        )?;
        expect_exit(
            &ctx,
            "apply",
            &without_shared,
            &ns,
            &["--app-id", &app_a],
            0,
        )
        .await?;
        cms.delete("shared", &Default::default()).await?;
        let shared = write_dir(&ctx, "b", &[("shared.yaml", &config_map("shared", "2"))])?;
        expect_exit(&ctx, "apply", &shared, &ns, &["--app-id", &app_b], 0).await?;

        let only_keep = write_dir(&ctx, "keep", &[("keep.yaml", &config_map("keep", "1"))])?;
        let diff = expect_exit(&ctx, "diff", &only_keep, &ns, &["--app-id", &app_a], 1).await?;
        assert!(
            diff.contains(&format!("live/ConfigMap {ns}/gone")),
            "{diff}"
        );
        assert!(
            !diff.contains("shared"),
            "another application's object shown as prunable: {diff}"
        );

        let out = expect_exit(
            &ctx,
            "apply",
            &only_keep,
            &ns,
            &["--app-id", &app_a, "--prune"],
            0,
        )
        .await?;
        assert!(
            out.contains(&format!("ConfigMap {ns}/gone pruned")),
            "{out}"
        );
        assert!(!out.contains("shared"), "{out}");
        assert!(get(&cms, "gone").await?.is_none(), "gone was not pruned");
        let shared_live = get(&cms, "shared").await?.expect("shared must survive");
        assert_eq!(shared_live["data"]["key"], "2");
        assert!(get(&cms, "keep").await?.is_some());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_empty_desired_set_or_a_failed_render_prunes_nothing() -> anyhow::Result<()> {
    run(Tier::ApiServer, "prune-refused", |ctx| async move {
        let ns = ctx.namespace.clone();
        let app = format!("{ns}/app");
        let cms = api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
        let dir = write_dir(&ctx, "app", &[("cm.yaml", &config_map("precious", "1"))])?;
        expect_exit(&ctx, "apply", &dir, &ns, &["--app-id", &app], 0).await?;

        let empty = write_dir(&ctx, "empty", &[])?;
        let (code, _, stderr) = common::show(
            &common::capstan(&ctx, "apply", &empty, &ns, &["--app-id", &app, "--prune"]).await?,
        );
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("refusing to prune all 1 objects"),
            "{stderr}"
        );
        assert!(
            get(&cms, "precious").await?.is_some(),
            "an empty set pruned"
        );

        let broken = write_dir(
            &ctx,
            "broken",
            &[("kustomization.yaml", "resources:\n- missing.yaml\n")],
        )?;
        let (code, stdout, stderr) = common::show(
            &common::capstan(&ctx, "apply", &broken, &ns, &["--app-id", &app, "--prune"]).await?,
        );
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(stderr.contains("missing.yaml"), "{stderr}");
        assert!(
            get(&cms, "precious").await?.is_some(),
            "a failed render pruned"
        );

        let out = expect_exit(
            &ctx,
            "apply",
            &empty,
            &ns,
            &["--app-id", &app, "--prune", "--allow-empty"],
            0,
        )
        .await?;
        assert!(out.contains("precious pruned"), "{out}");
        assert!(get(&cms, "precious").await?.is_none());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn secrets_are_masked_in_the_diff() -> anyhow::Result<()> {
    run(Tier::ApiServer, "diff-masks-secrets", |ctx| async move {
        let ns = ctx.namespace.clone();
        let secret = |value: &str| {
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {value}\n")
        };
        let dir = write_dir(&ctx, "v1", &[("s.yaml", &secret("hunter2-first"))])?;
        let missing = expect_exit(&ctx, "diff", &dir, &ns, &[], 1).await?;
        expect_exit(&ctx, "apply", &dir, &ns, &[], 0).await?;
        expect_exit(&ctx, "diff", &dir, &ns, &[], 0).await?;
        let changed_dir = write_dir(&ctx, "v2", &[("s.yaml", &secret("hunter2-second"))])?;
        let changed = expect_exit(&ctx, "diff", &changed_dir, &ns, &[], 1).await?;
        for text in [&missing, &changed] {
            assert!(!text.contains("hunter2"), "secret leaked: {text}");
            // base64 of both values must not leak either.
            assert!(!text.contains("aHVudGVyMi"), "secret leaked: {text}");
            assert!(text.contains("hidden"), "{text}");
        }
        assert!(changed.contains("password"), "the diff names the changed key: {changed}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn create_namespace_creates_the_destination_but_never_tracks_it() -> anyhow::Result<()> {
    run(Tier::ApiServer, "create-namespace", |ctx| async move {
        let ns = format!("{}-created", ctx.namespace);
        let dir = write_dir(&ctx, "app", &[("cm.yaml", &config_map("settings", "1"))])?;
        let create = ["--sync-option", "CreateNamespace=true"];
        let out = expect_exit(&ctx, "apply", &dir, &ns, &create, 0).await?;
        assert_eq!(out.trim(), format!("ConfigMap {ns}/settings created"));
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(ctx.client.clone());
        let created = namespaces.get(&ns).await?;
        let annotations = created.metadata.annotations.unwrap_or_default();
        assert!(
            !annotations.contains_key("capstan.dev/tracking-id"),
            "{annotations:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_immutable_field_change_fails_clearly_and_force_recreates_the_object()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "immutable-field", |ctx| async move {
        let ns = ctx.namespace.clone();
        let deployment = |label: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: {label}}}\n  template:\n    metadata:\n      labels: {{app: {label}}}\n    spec:\n      containers:\n      - {{name: web, image: nginx}}\n"
            )
        };
        let app = format!("{ns}/web");
        let v1 = write_dir(&ctx, "v1", &[("d.yaml", &deployment("web"))])?;
        expect_exit(&ctx, "apply", &v1, &ns, &["--app-id", &app], 0).await?;
        let deployments = api(&ctx, &ns, "apps", "v1", "Deployment", "deployments");
        let uid = |obj: &serde_json::Value| obj["metadata"]["uid"].as_str().map(str::to_owned);
        let before = uid(&get(&deployments, "web").await?.expect("web exists"));

        let v2 = write_dir(&ctx, "v2", &[("d.yaml", &deployment("web-v2"))])?;
        let (code, stdout, _) = common::show(&common::capstan(&ctx, "apply", &v2, &ns, &["--app-id", &app]).await?);
        assert_eq!(code, 1, "{stdout}");
        assert!(stdout.contains("field is immutable") && stdout.contains("Force=true"), "{stdout}");
        assert_eq!(uid(&get(&deployments, "web").await?.expect("web kept")), before);

        let force = ["--app-id", &app, "--sync-option", "Force=true"];
        let out = expect_exit(&ctx, "apply", &v2, &ns, &force, 0).await?;
        assert!(out.contains("created: recreated"), "{out}");
        let after = get(&deployments, "web").await?.expect("web recreated");
        assert_ne!(uid(&after), before);
        assert_eq!(after["spec"]["selector"]["matchLabels"]["app"], "web-v2");
        Ok(())
    })
    .await
}
