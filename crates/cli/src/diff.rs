//! `capstan diff DIR`: what applying DIR would change, from server-side-apply dry-runs. Prints a
//! unified diff per object that differs (Secrets masked) and exits 0 when nothing differs, 1
//! when something does, and 2 on error.

use std::process::ExitCode;

use capstan_cluster::compare::{Differences, differences};
use capstan_cluster::inventory_store;

use crate::target::{self, ClusterArgs as Args};

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let result = target::runtime().and_then(|rt| rt.block_on(diff(args)));
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
async fn diff(args: &Args) -> anyhow::Result<Differences> {
    let target = target::open(args).await?;
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
