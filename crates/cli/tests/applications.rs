//! `capstan get`, `capstan refresh`, `capstan sync` and `capstan crds` against the real
//! kube-apiserver, with the generated Application CRD (`deploy/crds/`) installed and the
//! Applications' status written through the status subresource. For `sync --wait` the test plays
//! the controller: it waits (with a watch) for the request to appear, then records the
//! operation's result and clears the request as `docs/application.md` says the controller does.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use capstan_api::Application;
use capstan_testenv::{TestContext, Tier, run};
use common::app::install_crd;
use common::show;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

const COMMIT: &str = "4f2c1e0b5329cbe41edab0b7fde2d01d6aa00bcd";
const OTHER_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// An Application `name` of the test namespace, with `status` written through the status
/// subresource.
async fn create_app(ctx: &TestContext, name: &str, status: Value) -> anyhow::Result<()> {
    let apps = Api::<Application>::namespaced(ctx.client.clone(), &ctx.namespace);
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "capstan.dev/v1alpha1",
        "kind": "Application",
        "metadata": { "name": name, "namespace": ctx.namespace },
        "spec": {
            "source": {
                "repoURL": format!("https://git.example.com/org/{name}.git"),
                "targetRevision": "main",
                "path": format!("overlays/{name}"),
            },
            "destination": { "namespace": name },
        },
    }))?;
    // Discovery of a just-established CRD can lag for a moment: a 404 is retried.
    common::eventually("the applications resource", Duration::from_secs(10), || {
        let (apps, app) = (apps.clone(), app.clone());
        async move {
            match apps.create(&PostParams::default(), &app).await {
                Ok(_) => Ok(Some(())),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
                Err(err) => Err(err).context("create the application"),
            }
        }
    })
    .await?;
    apps.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .context("write the status")?;
    Ok(())
}

fn condition(status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-01-02T03:04:05Z",
    })
}

/// `web`: synced and healthy; `api`: out of sync and degraded after a failed apply.
async fn create_two_apps(ctx: &TestContext) -> anyhow::Result<()> {
    install_crd(&ctx.client).await?;
    create_app(
        ctx,
        "web",
        json!({
            "conditions": [condition("True", "Synced", "")],
            "sync": { "status": "Synced", "revision": COMMIT },
            "health": { "status": "Healthy" },
            "resources": [{ "version": "v1", "kind": "ConfigMap", "namespace": "web",
                            "objects": [{ "name": "settings", "status": "Synced" }] }],
        }),
    )
    .await?;
    create_app(
        ctx,
        "api",
        json!({
            "conditions": [condition("False", "ApplyFailed", "ConfigMap api/settings: denied")],
            "sync": { "status": "OutOfSync", "revision": OTHER_COMMIT },
            "health": { "status": "Degraded", "message": "Deployment api/api: crash loop" },
        }),
    )
    .await
}

/// Runs `capstan <args…> --kubeconfig <capstan's>` and fails unless it exits with `code`;
/// returns stdout and stderr.
async fn expect(ctx: &TestContext, args: &[&str], code: i32) -> anyhow::Result<(String, String)> {
    let output = common::capstan_cmd(ctx, args).output().await?;
    checked(args, &output, code)
}

fn checked(args: &[&str], output: &Output, code: i32) -> anyhow::Result<(String, String)> {
    let (got, stdout, stderr) = show(output);
    if got != code {
        bail!(
            "capstan {args:?} exited {got}, expected {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    Ok((stdout, stderr))
}

/// Fails unless `capstan <args…>` (naming the Application `nope`) exits 1, saying it is not found.
async fn expect_not_found(ctx: &TestContext, args: &[&str]) -> anyhow::Result<()> {
    let (_, stderr) = expect(ctx, args, 1).await?;
    let wanted = format!("application {}/nope not found", ctx.namespace);
    ensure!(stderr.contains(&wanted), "{wanted:?} missing from {stderr}");
    Ok(())
}

/// The whitespace-separated cells of each line.
fn cells(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[tokio::test]
async fn get_applications_prints_a_table_per_namespace_or_for_all_and_json_that_reads_back()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "cli get applications", |ctx| async move {
        create_two_apps(&ctx).await?;
        let ns = ctx.namespace.as_str();

        let (table, _) = expect(&ctx, &["get", "applications", "-n", ns], 0).await?;
        let rows = cells(&table);
        ensure!(rows.len() == 3, "{table}");
        ensure!(
            rows[0] == ["NAME", "SYNC", "HEALTH", "REVISION", "AGE"],
            "{table}"
        );
        ensure!(
            rows[1][..4] == ["api", "OutOfSync", "Degraded", "89abcde"],
            "{table}"
        );
        ensure!(
            rows[2][..4] == ["web", "Synced", "Healthy", "4f2c1e0"],
            "{table}"
        );
        ensure!(
            rows[2][4].ends_with('s'),
            "a fresh Application's age: {table}"
        );

        let (all, _) = expect(&ctx, &["get", "applications", "-A"], 0).await?;
        let rows = cells(&all);
        ensure!(rows[0][..2] == ["NAMESPACE", "NAME"], "{all}");
        let ours: Vec<&str> = rows.iter().filter(|r| r[0] == ns).map(|r| r[1]).collect();
        ensure!(ours == ["api", "web"], "{all}");

        let (wide, _) = expect(&ctx, &["get", "applications", "-n", ns, "-o", "wide"], 0).await?;
        let rows = cells(&wide);
        ensure!(
            rows[0][5..] == ["REPO", "PATH", "TARGET", "REASON", "MESSAGE"],
            "{wide}"
        );
        ensure!(
            rows[1][5..]
                == [
                    "https://git.example.com/org/api.git",
                    "overlays/api",
                    "main",
                    "ApplyFailed",
                    "ConfigMap",
                    "api/settings:",
                    "denied"
                ],
            "{wide}"
        );

        let (text, _) = expect(&ctx, &["get", "applications", "-n", ns, "-o", "json"], 0).await?;
        let list: Value = serde_json::from_str(&text)?;
        ensure!(list["kind"] == "List", "{text}");
        let items: Vec<Application> = serde_json::from_value(list["items"].clone())?;
        let names: Vec<_> = items
            .iter()
            .filter_map(|a| a.metadata.name.as_deref())
            .collect();
        ensure!(names == ["api", "web"], "{text}");
        ensure!(items.iter().all(|a| a.metadata.managed_fields.is_none()));
        let api_status = items[0].status.as_ref().context("api has a status")?;
        ensure!(api_status.health.as_ref().map(|h| h.status.as_str()) == Some("Degraded"));

        let (text, _) = expect(
            &ctx,
            &["get", "application", "web", "-n", ns, "-o", "yaml"],
            0,
        )
        .await?;
        let web: Application = serde_saphyr::from_str(&text)?;
        ensure!(web.spec.source.repo_url == "https://git.example.com/org/web.git");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn get_application_names_its_conditions_and_a_missing_one_exits_1() -> anyhow::Result<()> {
    run(Tier::ApiServer, "cli get application", |ctx| async move {
        create_two_apps(&ctx).await?;
        let ns = ctx.namespace.as_str();
        let (detail, _) = expect(&ctx, &["get", "application", "api", "-n", ns], 0).await?;
        for wanted in [
            "Repository:   https://git.example.com/org/api.git",
            "Sync:         OutOfSync at 89abcde",
            "Health:       Degraded: Deployment api/api: crash loop",
            "Conditions:",
        ] {
            ensure!(detail.contains(wanted), "{wanted:?} missing from\n{detail}");
        }
        let ready = cells(&detail)
            .into_iter()
            .find(|r| r.first() == Some(&"Ready"))
            .with_context(|| format!("no Ready condition in\n{detail}"))?;
        ensure!(ready[1..3] == ["False", "ApplyFailed"], "{detail}");

        expect_not_found(&ctx, &["get", "application", "nope", "-n", ns]).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn refresh_sets_the_annotation_to_the_current_time() -> anyhow::Result<()> {
    run(Tier::ApiServer, "cli refresh", |ctx| async move {
        create_two_apps(&ctx).await?;
        let ns = ctx.namespace.as_str();
        let before = Timestamp::now();
        expect(&ctx, &["refresh", "web", "-n", ns], 0).await?;
        let apps = Api::<Application>::namespaced(ctx.client.clone(), ns);
        let web = apps.get("web").await?;
        let value = web
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(capstan_api::REFRESH_ANNOTATION))
            .context("the refresh annotation is set")?;
        let at: Timestamp = value
            .parse()
            .with_context(|| format!("{value:?} is a time"))?;
        ensure!(at >= before && at <= Timestamp::now(), "{value}");

        expect_not_found(&ctx, &["refresh", "nope", "-n", ns]).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sync_writes_the_documented_operation_and_refuses_a_second_while_one_is_pending()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "cli sync request", |ctx| async move {
        create_two_apps(&ctx).await?;
        let ns = ctx.namespace.as_str();
        let (out, _) = expect(&ctx, &["sync", "web", "-n", ns, "--prune", "--dry-run"], 0).await?;
        ensure!(
            out.contains(&format!("sync requested: application {ns}/web")),
            "{out}"
        );

        let apps = common::api(
            &ctx,
            ns,
            "capstan.dev",
            "v1alpha1",
            "Application",
            "applications",
        );
        let web = serde_json::to_value(apps.get("web").await?)?;
        ensure!(
            web["operation"]
                == json!({
                    "initiatedBy": { "username": ctx.capstan_user },
                    "sync": { "prune": true, "dryRun": true },
                }),
            "{}",
            web["operation"]
        );
        let managers: Vec<&str> = web["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["fieldsV1"]["f:operation"].is_object())
            .filter_map(|m| m["manager"].as_str())
            .collect();
        ensure!(managers == ["capstan-cli"], "{managers:?}");

        let (_, stderr) = expect(&ctx, &["sync", "web", "-n", ns], 1).await?;
        ensure!(
            stderr.contains("already has a pending operation"),
            "{stderr}"
        );
        let still = serde_json::to_value(apps.get("web").await?)?;
        ensure!(
            still["operation"] == web["operation"],
            "{}",
            still["operation"]
        );

        expect_not_found(&ctx, &["sync", "nope", "-n", ns]).await?;
        Ok(())
    })
    .await
}

/// Plays the controller for one request: waits (watching) for `operation` to appear, records a
/// Running state and clears the request, then records `phase` with `resources`.
async fn answer(
    ctx: &TestContext,
    name: &str,
    phase: &str,
    resources: Value,
) -> anyhow::Result<()> {
    let apps = Api::<Application>::namespaced(ctx.client.clone(), &ctx.namespace);
    let requested = await_condition(apps.clone(), name, |app: Option<&Application>| {
        app.is_some_and(|a| a.operation.is_some())
    });
    tokio::time::timeout(Duration::from_secs(30), requested)
        .await
        .context("no sync was requested in 30 s")??;
    let started = Timestamp::now().to_string();
    let operation = json!({ "revision": "main", "prune": false, "dryRun": false });
    let params = PatchParams::default();
    let running = json!({ "status": { "operationState": {
        "operation": operation, "phase": "Running", "startedAt": started,
    }}});
    apps.patch_status(name, &params, &Patch::Merge(running))
        .await?;
    apps.patch(name, &params, &Patch::Merge(json!({ "operation": null })))
        .await?;
    let message = if phase == "Succeeded" {
        ""
    } else {
        "1 object failed"
    };
    let done = json!({ "status": { "operationState": {
        "operation": operation, "phase": phase, "startedAt": started,
        "finishedAt": Timestamp::now().to_string(),
        "message": message,
        "syncResult": { "revision": COMMIT, "resources": resources },
    }}});
    apps.patch_status(name, &params, &Patch::Merge(done))
        .await?;
    Ok(())
}

#[tokio::test]
async fn sync_wait_exits_0_when_the_sync_succeeds_and_1_when_it_fails() -> anyhow::Result<()> {
    run(Tier::ApiServer, "cli sync wait", |ctx| async move {
        create_two_apps(&ctx).await?;
        let ns = ctx.namespace.clone();
        let args = ["sync", "web", "-n", &ns, "--wait", "--timeout", "60s"];

        let child = common::capstan_cmd(&ctx, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let synced = json!([{ "version": "v1", "kind": "ConfigMap", "namespace": "web",
                              "name": "settings", "status": "Synced", "action": "Configured" }]);
        answer(&ctx, "web", "Succeeded", synced).await?;
        let (out, _) = checked(&args, &child.wait_with_output().await?, 0)?;
        ensure!(
            out.contains(&format!("sync of application {ns}/web: Succeeded")),
            "{out}"
        );

        // The Succeeded state above is now the previous one: the second wait must not take it.
        let child = common::capstan_cmd(&ctx, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let failed = json!([
            { "version": "v1", "kind": "ConfigMap", "namespace": "web", "name": "settings",
              "status": "Synced", "action": "Unchanged" },
            { "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web",
              "name": "web", "status": "SyncFailed", "reason": "ImmutableField",
              "message": "spec.selector: field is immutable" },
        ]);
        answer(&ctx, "web", "Failed", failed).await?;
        let (out, _) = checked(&args, &child.wait_with_output().await?, 1)?;
        ensure!(
            out.contains(&format!(
                "sync of application {ns}/web: Failed: 1 object failed"
            )),
            "{out}"
        );
        let failure = cells(&out)
            .into_iter()
            .find(|r| r.contains(&"SyncFailed"))
            .with_context(|| format!("no failed object in\n{out}"))?;
        ensure!(
            failure
                == [
                    "apps",
                    "Deployment",
                    "web",
                    "web",
                    "SyncFailed",
                    "ImmutableField:",
                    "spec.selector:",
                    "field",
                    "is",
                    "immutable"
                ],
            "{out}"
        );
        ensure!(!out.contains("settings"), "only failures are listed: {out}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn crds_prints_the_generated_crd_file() -> anyhow::Result<()> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .arg("crds")
        .output()
        .await?;
    let (stdout, _) = checked(&["crds"], &output, 0)?;
    let path = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../deploy/crds/applications.capstan.dev.yaml");
    ensure!(
        stdout == std::fs::read_to_string(&path)?,
        "capstan crds differs from {}",
        path.display()
    );
    Ok(())
}
