//! The generated Application CRD against the real kube-apiserver: it is accepted and becomes
//! Established, the full example Application (`crates/api/testdata/application.yaml`) is
//! created and its status written through the status subresource, both read back equal, the
//! schema refuses a malformed duration, and the printer columns are served.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use capstan_api::Application;
use capstan_api::crd::{APPLICATION_CRD_NAME, application_crd};
use capstan_testenv::{Tier, run};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn example() -> anyhow::Result<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/testdata/application.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path:?}"))?;
    Ok(serde_saphyr::from_str(&text)?)
}

/// Installs the CRD (server-side apply, so a rerun against the shared server is harmless) and
/// waits until it is Established.
async fn install_crd(client: kube::Client) -> anyhow::Result<CustomResourceDefinition> {
    let crds = Api::<CustomResourceDefinition>::all(client);
    let params = PatchParams::apply("capstan-test").force();
    crds.patch(
        APPLICATION_CRD_NAME,
        &params,
        &Patch::Apply(application_crd()),
    )
    .await
    .context("apply the crd")?;
    for _ in 0..100 {
        let crd = crds.get(APPLICATION_CRD_NAME).await?;
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(crd);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the crd did not become Established in 10 s")
}

#[tokio::test]
async fn the_generated_crd_stores_a_full_application_and_reads_it_back_equal() -> anyhow::Result<()>
{
    run(Tier::ApiServer, "application crd", |ctx| async move {
        let crd = install_crd(ctx.client.clone()).await?;
        let version = &crd.spec.versions[0];
        let columns: Vec<(&str, &str)> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        ensure!(
            columns
                == [
                    ("Sync", ".status.sync.status"),
                    ("Health", ".status.health.status"),
                    ("Revision", ".status.sync.revision"),
                    ("Age", ".metadata.creationTimestamp"),
                ],
            "printer columns: {columns:?}"
        );

        let example = example()?;
        let wanted: Application = serde_json::from_value(example.clone())?;
        let mut new = wanted.clone();
        new.metadata.namespace = Some(ctx.namespace.clone());
        new.status = None;
        let apps = Api::<Application>::namespaced(ctx.client.clone(), &ctx.namespace);
        // Retried: discovery of a just-established CRD can lag for a moment.
        let mut created = None;
        for _ in 0..50 {
            match apps.create(&PostParams::default(), &new).await {
                Ok(app) => {
                    created = Some(app);
                    break;
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => return Err(err).context("create the example application"),
            }
        }
        let created = created.context("the applications resource was never served")?;
        ensure!(created.status.is_none(), "create must not write status");
        ensure!(created.spec == wanted.spec, "spec: {:#?}", created.spec);
        ensure!(
            created.operation == wanted.operation,
            "operation: {:#?}",
            created.operation
        );

        let status = json!({ "status": example["status"] });
        apps.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .context("write status")?;
        let read = apps.get("web").await?;
        ensure!(read.status == wanted.status, "status: {:#?}", read.status);
        let stored = serde_json::to_value(&read)?;
        for part in ["spec", "status", "operation"] {
            ensure!(
                stored[part] == example[part],
                "{part} differs: {}",
                stored[part]
            );
        }

        // The controller clears the request with one patch.
        let cleared = json!({ "operation": null });
        let read = apps
            .patch("web", &PatchParams::default(), &Patch::Merge(&cleared))
            .await?;
        ensure!(read.operation.is_none() && read.status.is_some());

        // The schema refuses what the duration parser refuses.
        let mut bad = new.clone();
        bad.metadata.name = Some("bad-interval".into());
        bad.spec.refresh_interval = Some("3 minutes".into());
        match apps.create(&PostParams::default(), &bad).await {
            Err(kube::Error::Api(status)) if status.code == 422 => {
                ensure!(
                    status.message.contains("refreshInterval"),
                    "{}",
                    status.message
                );
            }
            other => bail!("a malformed refreshInterval was not refused: {other:?}"),
        }

        // kubectl's table view: the API server serves the declared columns.
        let request = http::Request::get(format!(
            "/apis/capstan.dev/v1alpha1/namespaces/{}/applications",
            ctx.namespace
        ))
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())?;
        let table: Value = serde_json::from_str(&ctx.client.request_text(request).await?)?;
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .context("a table")?
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        ensure!(
            names == ["Name", "Sync", "Health", "Revision", "Age"],
            "{names:?}"
        );
        let cells = &table["rows"][0]["cells"];
        ensure!(
            cells[1] == "OutOfSync" && cells[2] == "Progressing",
            "row: {cells}"
        );
        Ok(())
    })
    .await
}
