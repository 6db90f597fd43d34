//! The inventory never forgets an object it may still have to prune, against the real
//! kube-apiserver: an object that left without `--prune` is reported and pruned later; names
//! with `_` round-trip; an entry whose kind is no longer served stays, with a warning.

mod common;

use capstan_testenv::{TestContext, Tier, run};
use common::{api, capstan, config_map, expect_exit, get, show, write_dir};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::Value;

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - {{port: 80}}\n"
    )
}

/// The stored inventory of `app` (the CLI's ConfigMap in `ns`), as JSON.
async fn stored_inventory(ctx: &TestContext, ns: &str, app: &str) -> anyhow::Result<Value> {
    let cms = api(ctx, ns, "", "v1", "ConfigMap", "configmaps");
    let name = format!("capstan-inventory.{}", app.replace('/', "."));
    let map = get(&cms, &name).await?.expect("the inventory exists");
    let text = map["data"]["entries"].as_str().unwrap_or_default();
    Ok(serde_json::from_str(text)?)
}

fn names(inventory: &Value) -> Vec<String> {
    let entries = inventory.as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

/// Regression: without `--prune` the next inventory kept only the desired set, so a Service
/// removed from the overlay was orphaned — `diff` exited 0 and `apply --prune` left it running.
#[tokio::test]
async fn an_object_removed_without_prune_stays_in_the_inventory_until_pruned() -> anyhow::Result<()>
{
    run(
        Tier::ApiServer,
        "inventory-keeps-departed",
        |ctx| async move {
            let ns = ctx.namespace.clone();
            let app = ["--app-id", &format!("{ns}/web")].map(str::to_owned);
            let app: Vec<&str> = app.iter().map(String::as_str).collect();
            let both = write_dir(
                &ctx,
                "both",
                &[
                    ("cm.yaml", &config_map("web", "1")),
                    ("svc.yaml", &service("web")),
                ],
            )?;
            expect_exit(&ctx, "apply", &both, &ns, &app, 0).await?;
            let only_cm = write_dir(&ctx, "cm", &[("cm.yaml", &config_map("web", "1"))])?;
            let out = expect_exit(&ctx, "apply", &only_cm, &ns, &app, 0).await?;
            assert!(
                out.contains(&format!("Service {ns}/web requires pruning")),
                "{out}"
            );
            let inventory = stored_inventory(&ctx, &ns, &format!("{ns}/web")).await?;
            assert!(names(&inventory).len() == 2, "{inventory}");

            let diff = expect_exit(&ctx, "diff", &only_cm, &ns, &app, 1).await?;
            assert!(diff.contains(&format!("live/Service {ns}/web")), "{diff}");

            let mut prune = app.clone();
            prune.push("--prune");
            let out = expect_exit(&ctx, "apply", &only_cm, &ns, &prune, 0).await?;
            assert!(out.contains(&format!("Service {ns}/web pruned")), "{out}");
            let services = api(&ctx, &ns, "", "v1", "Service", "services");
            assert!(
                get(&services, "web").await?.is_none(),
                "the Service survived"
            );
            expect_exit(&ctx, "diff", &only_cm, &ns, &app, 0).await?;
            let inventory = stored_inventory(&ctx, &ns, &format!("{ns}/web")).await?;
            assert_eq!(names(&inventory), ["web"], "{inventory}");
            Ok(())
        },
    )
    .await
}

/// Regression: inventory entries were split on `_`, so a Role named `read_configmaps` applied
/// once, then the next `apply` exited 1 and `diff` exited 2 with "malformed inventory entry".
#[tokio::test]
async fn a_role_whose_name_contains_an_underscore_applies_diffs_and_prunes_again()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "inventory-underscore", |ctx| async move {
        let ns = ctx.namespace.clone();
        let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: read_configmaps\nrules:\n- {apiGroups: [\"\"], resources: [configmaps], verbs: [get]}\n";
        let dir = write_dir(
            &ctx,
            "app",
            &[("role.yaml", role), ("cm.yaml", &config_map("web", "1"))],
        )?;
        let app = format!("{ns}/app");
        let args = ["--app-id", app.as_str()];
        expect_exit(&ctx, "apply", &dir, &ns, &args, 0).await?;
        let again = expect_exit(&ctx, "apply", &dir, &ns, &args, 0).await?;
        assert!(again.contains("read_configmaps unchanged"), "{again}");
        expect_exit(&ctx, "diff", &dir, &ns, &args, 0).await?;
        let only_cm = write_dir(&ctx, "cm", &[("cm.yaml", &config_map("web", "1"))])?;
        let prune = ["--app-id", app.as_str(), "--prune"];
        let out = expect_exit(&ctx, "apply", &only_cm, &ns, &prune, 0).await?;
        assert!(out.contains("read_configmaps pruned"), "{out}");
        Ok(())
    })
    .await
}

/// Regression: entries whose kind no longer resolved were dropped from the inventory.
#[tokio::test]
async fn an_entry_whose_kind_is_no_longer_served_stays_with_a_warning() -> anyhow::Result<()> {
    run(
        Tier::ApiServer,
        "inventory-unserved-kind",
        |ctx| async move {
            let ns = ctx.namespace.clone();
            let app = format!("{ns}/gadgets");
            let group = format!("{ns}.test.capstan.dev");
            let crds = capstan_testenv::crd_api(&ctx.client);
            let crd_name = format!("gadgets.{group}");
            let by_hand = PatchParams::apply("test-setup");
            crds.patch(
                &crd_name,
                &by_hand,
                &Patch::Apply(capstan_testenv::open_crd(&group, "v1", "Gadget", "gadgets")),
            )
            .await?;
            let gadget = format!("apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\n");
            let with_gadget = write_dir(
                &ctx,
                "with",
                &[("g.yaml", &gadget), ("cm.yaml", &config_map("web", "1"))],
            )?;
            let args = ["--app-id", app.as_str()];
            common::eventually(
                "the Gadget kind to be served",
                std::time::Duration::from_secs(30),
                || async {
                    let (code, _, _) =
                        show(&capstan(&ctx, "apply", &with_gadget, &ns, &args).await?);
                    Ok((code == 0).then_some(()))
                },
            )
            .await?;

            crds.delete(&crd_name, &DeleteParams::default()).await?;
            common::eventually(
                "the CRD to be gone",
                std::time::Duration::from_secs(30),
                || async { Ok(crds.get_opt(&crd_name).await?.is_none().then_some(())) },
            )
            .await?;
            let only_cm = write_dir(&ctx, "cm", &[("cm.yaml", &config_map("web", "1"))])?;
            let prune = ["--app-id", app.as_str(), "--prune"];
            let out = expect_exit(&ctx, "apply", &only_cm, &ns, &prune, 0).await?;
            assert!(
                out.contains(&format!(
                    "{group}/Gadget {ns}/g1 prune skipped: its kind is not served"
                )),
                "{out}"
            );
            let (code, _, stderr) = show(&capstan(&ctx, "diff", &only_cm, &ns, &args).await?);
            assert_eq!(code, 0, "{stderr}");
            assert!(
                stderr.contains("warning:") && stderr.contains("Gadget"),
                "{stderr}"
            );
            let inventory = stored_inventory(&ctx, &ns, &app).await?;
            assert_eq!(names(&inventory), ["web", "g1"], "{inventory}");
            Ok(())
        },
    )
    .await
}
