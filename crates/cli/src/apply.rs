//! `capstan apply DIR`: applies DIR with server-side apply, wave by wave, and with `--prune`
//! deletes the objects of the application's previous apply that left DIR. Prints one line per
//! object (`created`, `configured`, `unchanged`, `pruned`, `failed`); exits 1 when anything
//! failed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_cluster::{SyncRequest, inventory_store, sync};
use capstan_core::outcome::SyncOutcome;
use capstan_core::tracking::AppId;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;

use crate::target::{self, ClusterArgs, parse_duration};

/// Arguments of `capstan apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: ClusterArgs,
    /// Delete objects applied last time (under the same --app-id) that left DIR and still carry
    /// this application's tracking id.
    #[arg(long)]
    prune: bool,
    /// With --prune, allow an empty DIR to delete every object of the application.
    #[arg(long, requires = "prune")]
    allow_empty: bool,
    /// Show what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// How long each sync wave may take to become healthy before the next (90s, 5m, …).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    wave_timeout: Duration,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let result = target::runtime().and_then(|rt| rt.block_on(apply(args)));
    match result {
        Ok(outcome) => {
            let suffix = if args.dry_run { " (dry run)" } else { "" };
            for object in &outcome.objects {
                println!("{object}{suffix}");
            }
            if let Some(stopped) = &outcome.stopped {
                eprintln!("Error: sync stopped: {stopped}");
            }
            ExitCode::from(u8::from(!outcome.succeeded()))
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}

async fn apply(args: &Args) -> anyhow::Result<SyncOutcome> {
    let mut target = target::open(&args.target.dir, &args.target.target).await?;
    refuse_managed(&target.client, &target.app).await?;
    let previous = inventory_store::load(&target.client, &target.app, &target.namespace).await?;
    let request = SyncRequest {
        app: target.app.clone(),
        options: target.options,
        namespace: target.namespace.clone(),
        ignore: Vec::new(),
        prune: args.prune,
        allow_empty: args.allow_empty,
        dry_run: args.dry_run,
        parallelism: args.target.target.parallelism,
        wave_timeout: args.wave_timeout,
    };
    let prepared = std::mem::take(&mut target.prepared);
    let (outcome, inventory) = sync(
        &target.client,
        &mut target.catalog,
        prepared,
        &previous,
        &request,
    )
    .await?;
    if !args.dry_run && inventory != previous {
        inventory_store::save(&target.client, &target.app, &target.namespace, &inventory).await?;
    }
    Ok(outcome)
}

/// Refuses an application id that names an existing Application: its objects are the
/// controller's, and a one-shot apply beside it would fight over them. A cluster without the
/// Application resource has none; a user who may not read Applications is warned, not stopped.
async fn refuse_managed(client: &kube::Client, app: &AppId) -> anyhow::Result<()> {
    let (namespace, name) = app.as_str().split_once('/').unwrap_or(("", app.as_str()));
    let resource = ApiResource {
        group: capstan_api::GROUP.to_owned(),
        version: capstan_api::VERSION.to_owned(),
        api_version: format!("{}/{}", capstan_api::GROUP, capstan_api::VERSION),
        kind: "Application".to_owned(),
        plural: "applications".to_owned(),
    };
    let applications: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource);
    match applications.get_opt(name).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => bail!(
            "application {app} exists in the cluster and the controller syncs it; run \
             `capstan sync {name} -n {namespace}` instead, or choose another --app-id"
        ),
        // Without the Application resource the API server answers a plain-text 404.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            eprintln!(
                "warning: cannot tell whether an Application {app} exists (reading Applications \
                 is forbidden); applying as a one-shot application"
            );
            Ok(())
        }
        Err(err) => Err(err).context("failed to check whether an Application owns the --app-id"),
    }
}
