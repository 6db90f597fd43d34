//! Runs a whole sync for a caller that can wait, such as the CLI: plan it (`Run::begin`), then
//! run its stages (`step`) one after the other; when a stage asks to be looked at again later,
//! it waits — watching the objects the stage waits for — until one changes. A controller calls
//! `step` itself and requeues instead.
//!
//! Guarantees: nothing is pruned when an apply failed, when a wave did not become healthy, or
//! when the desired set is empty (unless allowed); only owned objects of the previous inventory
//! are ever deleted (through `delete::delete_owned`); an object another application owns is
//! never applied over; the next inventory forgets no object that may still need pruning; a dry
//! run changes nothing.

use std::time::{Duration, SystemTime};

use capstan_core::ignore::IgnoreRule;
use capstan_core::inventory::Inventory;
use capstan_core::options::SyncOptions;
use capstan_core::outcome::SyncOutcome;
use capstan_core::tracking::AppId;
use kube::Client;

use crate::discovery::Catalog;
use crate::error::ClusterError;
use crate::prepare::Prepared;
use crate::run::Run;
use crate::step::{Progress, Step, step, waiting_on};
use crate::wait;

/// The longest a waiting sync goes without looking again, however quiet the watch is.
const WATCH_AT_MOST: Duration = Duration::from_secs(5);

/// What to sync and how.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The application the objects belong to.
    pub app: AppId,
    /// The application's sync options (objects' annotations override them).
    pub options: SyncOptions,
    /// The destination namespace, created first when `options.create_namespace` is set.
    pub namespace: String,
    /// `ignoreDifferences`.
    pub ignore: Vec<IgnoreRule>,
    /// Whether to prune objects that left the desired set.
    pub prune: bool,
    /// Whether an empty desired set may prune everything.
    pub allow_empty: bool,
    /// Report what would happen without changing anything.
    pub dry_run: bool,
    /// How many objects are applied (or read, or dry-run) at once.
    pub parallelism: usize,
    /// How long a wave may take to become healthy before the sync stops (and how long a
    /// delete-and-recreate waits for the old object to go).
    pub wave_timeout: Duration,
}

impl SyncRequest {
    /// A sync of `app` into `namespace` with the defaults of `capstan apply`: the application's
    /// default options, no ignore rules, no prune, not a dry run, 32 requests at once, and five
    /// minutes per wave.
    pub fn new(app: &AppId, namespace: &str) -> SyncRequest {
        SyncRequest {
            app: app.clone(),
            options: SyncOptions::default(),
            namespace: namespace.to_owned(),
            ignore: Vec::new(),
            prune: false,
            allow_empty: false,
            dry_run: false,
            parallelism: 32,
            wave_timeout: Duration::from_secs(300),
        }
    }
}

/// Syncs `prepared` (see `prepare`) against the cluster; `previous` is the inventory of the
/// last sync. Returns the outcome and the inventory to keep.
#[tracing::instrument(skip_all, fields(app = %request.app, objects = prepared.len()))]
pub async fn sync(
    client: &Client,
    catalog: &mut Catalog,
    prepared: Vec<Prepared>,
    previous: &Inventory,
    request: &SyncRequest,
) -> Result<(SyncOutcome, Inventory), ClusterError> {
    let mut run = Run::begin(client, catalog, prepared, previous, request).await?;
    if request.dry_run {
        let mut objects = run.kept();
        objects.extend(run.dry_run());
        let outcome = SyncOutcome {
            objects,
            stopped: None,
        };
        return Ok((outcome, previous.clone()));
    }
    let mut progress = Progress::start(&run, SystemTime::now());
    loop {
        match step(client, catalog, &mut run, &mut progress, SystemTime::now()).await {
            Step::Done | Step::Failed { .. } => break,
            Step::Requeue { after } if after.is_zero() => {}
            Step::Requeue { after } => {
                let objects = waiting_on(&run, progress.cursor);
                let waited = progress.since.elapsed().unwrap_or_default();
                let left = request.wave_timeout.saturating_sub(waited);
                if objects.is_empty() || left.is_zero() {
                    tokio::time::sleep(after).await;
                } else {
                    // Watch for the next change rather than looking again every second; look
                    // again anyway now and then, and when the stage's time is up.
                    let at_most = left.min(WATCH_AT_MOST);
                    wait::changed(client, &objects, &request.app, at_most).await;
                }
            }
        }
    }
    let inventory = run.next_inventory(previous, &progress.outcome.objects);
    Ok((progress.outcome, inventory))
}
