//! What `capstan diff DIR` and `capstan apply DIR` share: the cluster connection (kubeconfig,
//! context, namespace, as kubectl reads them: `connect`), the application id, and rendering DIR
//! into prepared objects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use capstan_cluster::{Catalog, Prepared, prepare};
use capstan_core::options::SyncOptions;
use capstan_core::tracking::AppId;

use crate::connect::{ConnectArgs, Connection, connect};
use crate::render;

/// Arguments naming the objects and the cluster: `DIR` and its [`TargetArgs`].
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The kustomization directory (or a plain directory of YAML).
    pub dir: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Where a directory's objects go and how they are tracked: the cluster and namespace, the
/// application id, the sync options.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The namespace, the kubeconfig and the context.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The application the objects belong to, `NAMESPACE/NAME`; written into every object's
    /// `capstan.dev/tracking-id` and naming the inventory used for pruning
    /// (default: `<namespace>/<directory name>`).
    #[arg(long)]
    pub app_id: Option<String>,
    /// Sync options, as on an Application: `PruneLast=true`, `ApplyOutOfSyncOnly=true`, …
    #[arg(long = "sync-option", value_name = "NAME=VALUE")]
    pub sync_options: Vec<String>,
    /// How many requests run at once.
    #[arg(long, default_value_t = 32)]
    pub parallelism: usize,
}

/// A connected cluster and the rendered, prepared objects.
pub struct Target {
    /// The API client.
    pub client: kube::Client,
    /// The cluster's resources.
    pub catalog: Catalog,
    /// The objects, ready to compare or apply.
    pub prepared: Vec<Prepared>,
    /// The application id.
    pub app: AppId,
    /// The application-wide sync options.
    pub options: SyncOptions,
    /// The destination namespace.
    pub namespace: String,
}

/// Renders `dir` (failing before any cluster call when rendering fails) and connects; `-n` is
/// the namespace for namespaced objects that name none.
pub async fn open(dir: &Path, args: &TargetArgs) -> anyhow::Result<Target> {
    let objects = render::objects(dir).map_err(|e| anyhow!(e))?;
    let Connection { client, namespace } = connect(&args.connect).await?;
    let app = AppId::parse(&app_id(dir, args, &namespace))?;
    let options = SyncOptions::parse(
        args.sync_options.iter().map(String::as_str),
        "--sync-option",
    )?;
    let catalog = Catalog::discover(&client).await?;
    let prepared = prepare(objects, &catalog, &namespace, &app, options)?;
    Ok(Target {
        client,
        catalog,
        prepared,
        app,
        options,
        namespace,
    })
}

/// Parses durations written as `90s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("invalid duration unit in {text:?}: use s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

fn app_id(dir: &Path, args: &TargetArgs, namespace: &str) -> String {
    args.app_id.clone().unwrap_or_else(|| {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        format!("{namespace}/{}", name.unwrap_or_else(|| "root".into()))
    })
}

/// Threads for blocking work (renders, git): tokio's default of 512 let a cold start of many
/// Applications run a thread per render, and each thread takes its own malloc arena.
const BLOCKING_THREADS: usize = 8;

/// A runtime for the cluster commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("m").is_err());
    }
}
