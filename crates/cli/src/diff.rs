//! `capstan diff DIR`: what applying DIR would change, from server-side-apply dry-runs. Prints a
//! unified diff per object that differs (Secrets masked) and exits 0 when nothing differs, 1
//! when something does, and 2 on error.

use std::process::ExitCode;

use capstan_cluster::compare::diff_all;
use capstan_cluster::live;
use capstan_cluster::prune::leaving;
use capstan_cluster::{Resource, inventory_store};
use capstan_core::diff::{ObjectDiff, pruned};
use capstan_core::object::ObjectKey;

use crate::target::{self, ClusterArgs as Args};

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let result = target::runtime().and_then(|rt| rt.block_on(diff(args)));
    match result {
        Ok(diffs) => {
            for entry in &diffs {
                print!("{}", entry.diff);
            }
            ExitCode::from(u8::from(!diffs.is_empty()))
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The differing objects: changed or missing desired objects, then owned objects of the
/// application's inventory that would be pruned.
async fn diff(args: &Args) -> anyhow::Result<Vec<ObjectDiff>> {
    let target = target::open(args).await?;
    let client = &target.client;
    let wanted: Vec<(ObjectKey, Resource)> = target
        .prepared
        .iter()
        .filter_map(|p| Some((p.key.clone(), p.resource.clone()?)))
        .collect();
    let live = live::fetch(client, &wanted, args.parallelism).await?;
    let mut diffs = diff_all(client, &target.prepared, &live, &[], args.parallelism).await?;
    diffs.retain(|d| d.state.is_difference());
    let previous = inventory_store::load(client, &target.app, &target.namespace).await?;
    let keys = target.prepared.iter().map(|p| p.key.clone()).collect();
    let (app, n) = (&target.app, args.parallelism);
    if let Ok(gone) = leaving(client, &target.catalog, app, &previous, &keys, false, n).await {
        diffs.extend(
            gone.iter()
                .filter(|l| l.owned)
                .map(|l| pruned(&l.key, &l.live)),
        );
    }
    Ok(diffs)
}
