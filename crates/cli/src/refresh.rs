//! `capstan refresh NAME`: asks the controller to look at the Application's source now, by
//! setting its `capstan.dev/refresh` annotation to the current time (RFC 3339). The controller
//! reacts to the change; the value only has to differ from the last one.

use std::process::ExitCode;

use capstan_api::REFRESH_ANNOTATION;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::connect::{self, ConnectArgs};
use crate::{sync::FIELD_MANAGER, target};

/// Arguments of `capstan refresh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Application's name.
    name: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    match target::runtime().and_then(|rt| rt.block_on(refresh(args))) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn refresh(args: &Args) -> anyhow::Result<String> {
    let cluster = connect::connect(&args.connect).await?;
    let now = Timestamp::now().to_string();
    let patch = json!({ "metadata": { "annotations": { REFRESH_ANNOTATION: now } } });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    // A merge patch of a missing object is a 404, never a create.
    cluster
        .applications()
        .patch(&args.name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|err| cluster.explain(err, &args.name, "annotate"))?;
    Ok(format!(
        "refresh requested: application {}/{} ({REFRESH_ANNOTATION}={now})",
        cluster.namespace, args.name
    ))
}
