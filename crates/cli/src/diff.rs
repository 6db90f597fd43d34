//! `capstan diff DIR` and `capstan diff --app NAME`: what applying DIR — or syncing the
//! Application NAME to its target revision — would change, from server-side-apply dry-runs.
//! Prints a unified diff per object that differs (Secrets masked) and exits 0 when nothing
//! differs, 1 when something does, and 2 on error.
//!
//! With `--app`, the Application's source is read as the controller reads it
//! (`capstan_controller::preview`): its own Secret, the same git cache rules, its tracking id
//! and its inventory — every request made with the user's own kubeconfig identity.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use capstan_cluster::compare::{Differences, differences};
use capstan_cluster::inventory_store;
use capstan_controller::context::Context;
use capstan_controller::preview::preview;

use crate::connect::connect;
use crate::target::{self, TargetArgs};

/// Arguments of `capstan diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kustomization directory (or a plain directory of YAML).
    #[arg(required_unless_present = "app")]
    dir: Option<PathBuf>,
    /// Diff the Application NAME (in -n's namespace) instead of a directory: its source rendered
    /// at its target revision with its own Secret, compared under its tracking id and with its
    /// inventory, as the controller compares it.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["dir", "app_id", "sync_options"])]
    app: Option<String>,
    /// With --app: a directory for the git cache, kept for the next run (default: a temporary
    /// directory, removed at exit).
    #[arg(long, value_name = "DIR", requires = "app")]
    git_cache: Option<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let result = target::runtime().and_then(|rt| {
        rt.block_on(async {
            match (&args.app, &args.dir) {
                (Some(name), _) => diff_app(name, args).await,
                (None, Some(dir)) => diff_dir(dir, &args.target).await,
                (None, None) => anyhow::bail!("name a directory or --app NAME"),
            }
        })
    });
    match result {
        Ok(found) => {
            for entry in &found.diffs {
                print!("{}", entry.diff);
            }
            for key in &found.unresolved {
                eprintln!(
                    "warning: {key} left the desired set but its kind is not served by the \
                     cluster; it stays in the inventory"
                );
            }
            ExitCode::from(u8::from(!found.diffs.is_empty()))
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The differing objects: changed or missing desired objects, then owned objects of the
/// application's inventory that would be pruned (also those a previous apply without
/// `--prune` left behind).
async fn diff_dir(dir: &Path, args: &TargetArgs) -> anyhow::Result<Differences> {
    let target = target::open(dir, args).await?;
    let client = &target.client;
    let previous = inventory_store::load(client, &target.app, &target.namespace).await?;
    let (catalog, prepared) = (&target.catalog, &target.prepared);
    let diffs = differences(
        client,
        catalog,
        prepared,
        &previous,
        &target.app,
        &[],
        args.parallelism,
    )
    .await?;
    Ok(diffs)
}

/// The Application's differences: its revision rendered from git as the controller renders it,
/// compared with the cluster under its tracking id and with the inventory of its status.
async fn diff_app(name: &str, args: &Args) -> anyhow::Result<Differences> {
    let connection = connect(&args.target.connect).await?;
    let app = connection.application(name).await?;
    let cache = GitCache::new(args.git_cache.clone())?;
    let mut context = Context::new(connection.client.clone(), cache.dir())
        .await
        .context("failed to discover the cluster's resources")?;
    context.parallelism = args.target.parallelism;
    let found = preview(&context, &app).await?;
    Ok(found.differences)
}

/// The git cache's directory: the one given, or a temporary one removed when dropped.
struct GitCache {
    dir: PathBuf,
    temporary: bool,
}

impl GitCache {
    fn new(given: Option<PathBuf>) -> anyhow::Result<GitCache> {
        if let Some(dir) = given {
            return Ok(GitCache {
                dir,
                temporary: false,
            });
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let unique = format!("capstan-diff-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(unique);
        // Only this user may read it: it will hold a private repository's objects.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("failed to create the git cache {}", dir.display()))?;
        Ok(GitCache {
            dir,
            temporary: true,
        })
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for GitCache {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
