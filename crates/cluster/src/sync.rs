//! Runs a sync: prepare → read live → (compare when needed) → plan (pure) → apply wave by wave,
//! kind step by kind step, objects of a step in parallel → prune → new inventory.
//!
//! Guarantees: nothing is pruned when an apply failed, when a wave did not become healthy, or
//! when the desired set is empty (unless allowed); only owned objects of the previous inventory
//! are ever deleted; a dry run changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use capstan_core::diff::DiffState;
use capstan_core::ignore::IgnoreRule;
use capstan_core::inventory::Inventory;
use capstan_core::object::ObjectKey;
use capstan_core::options::SyncOptions;
use capstan_core::outcome::{Action, ObjectOutcome, SyncOutcome};
use capstan_core::plan::{self, DISCOVERY_RANK, Desired, kind_rank};
use capstan_core::tracking::AppId;
use kube::Client;
use serde_json::Value;

use crate::compare::{body, diff_all};
use crate::discovery::Catalog;
use crate::error::{ClusterError, api_message};
use crate::prepare::{Prepared, located, resolve_pending};
use crate::prune::{Leaving, leaving};
use crate::{live, parallel, ssa, wait};

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
    /// How long a wave may take to become healthy before the sync stops.
    pub wave_timeout: Duration,
}

/// Syncs `prepared` (see `prepare`) against the cluster; `previous` is the inventory of the
/// last sync. Returns the outcome and the inventory to keep.
#[tracing::instrument(skip_all, fields(app = %request.app, objects = prepared.len()))]
pub async fn sync(
    client: &Client,
    catalog: &mut Catalog,
    mut prepared: Vec<Prepared>,
    previous: &Inventory,
    request: &SyncRequest,
) -> Result<(SyncOutcome, Inventory), ClusterError> {
    let parallelism = request.parallelism.max(1);
    let live = live::fetch(client, &located(&prepared), parallelism).await?;
    let states = states(client, &prepared, &live, request).await?;
    let owned = owned_leaving(client, catalog, &prepared, previous, request).await?;
    let leaving = planned_leaving(&owned, request)?;
    let plan = plan::plan(&desired(&prepared, &states), &leaving);
    let mut outcome = SyncOutcome::default();
    for &i in &plan.prune_skipped {
        outcome.objects.push(note(
            &owned[i].key,
            Action::PruneSkipped,
            "sync option Prune=false",
        ));
    }
    for &i in &plan.skipped {
        outcome.objects.push(note(
            &prepared[i].key,
            Action::Unchanged,
            "in sync, not applied",
        ));
    }
    if request.dry_run {
        report_dry_run(&plan, &prepared, &states, &owned, &mut outcome);
        return Ok((outcome, previous.clone()));
    }
    if request.options.create_namespace
        && let Err(err) = ssa::create_namespace(client, &request.namespace).await
    {
        outcome.stopped = Some(format!(
            "failed to create namespace {}: {}",
            request.namespace,
            api_message(&err)
        ));
        return Ok((outcome, previous.clone()));
    }
    let last = plan.waves.len().saturating_sub(1);
    for (n, wave) in plan.waves.iter().enumerate() {
        for step in &wave.apply {
            let (applied, established) =
                apply_step(client, catalog, &mut prepared, step, &live, request).await;
            outcome.objects.extend(applied);
            if !outcome.succeeded() {
                outcome.stopped = Some(format!("an apply failed in wave {}", wave.wave));
            } else if let Err(why) = established {
                outcome.stopped = Some(format!("wave {}: {why}", wave.wave));
            }
            if outcome.stopped.is_some() {
                return Ok((outcome, merged(previous, &prepared)));
            }
        }
        prune_all(client, wave.prune.iter().map(|&i| &owned[i]), &mut outcome).await;
        if n < last || !plan.prune_last.is_empty() {
            let objects = located(wave.apply.iter().flatten().map(|&i| &prepared[i]));
            let timeout = request.wave_timeout;
            if let Err(why) = wait::healthy(client, &objects, timeout, parallelism).await {
                outcome.stopped = Some(format!("wave {} is not healthy: {why}", wave.wave));
                return Ok((outcome, merged(previous, &prepared)));
            }
        }
    }
    prune_all(
        client,
        plan.prune_last.iter().map(|&i| &owned[i]),
        &mut outcome,
    )
    .await;
    Ok((
        outcome.clone(),
        next_inventory(&prepared, &owned, &plan, &outcome),
    ))
}

/// How each object compares with the cluster; only computed (by dry-run) when a dry run or
/// `ApplyOutOfSyncOnly` needs it, otherwise every object counts as out of sync.
async fn states(
    client: &Client,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    request: &SyncRequest,
) -> Result<Vec<DiffState>, ClusterError> {
    if request.dry_run || prepared.iter().any(|p| p.options.apply_out_of_sync_only) {
        let diffs = diff_all(client, prepared, live, &request.ignore, request.parallelism).await?;
        Ok(diffs.into_iter().map(|d| d.state).collect())
    } else {
        Ok(vec![DiffState::Modified; prepared.len()])
    }
}

/// The owned objects that left the desired set (none when pruning is off).
async fn owned_leaving(
    client: &Client,
    catalog: &Catalog,
    prepared: &[Prepared],
    previous: &Inventory,
    request: &SyncRequest,
) -> Result<Vec<Leaving>, ClusterError> {
    if !request.prune {
        return Ok(Vec::new());
    }
    let keys: BTreeSet<ObjectKey> = prepared.iter().map(|p| p.key.clone()).collect();
    let (app, allow_empty, n) = (&request.app, request.allow_empty, request.parallelism);
    leaving(client, catalog, app, previous, &keys, allow_empty, n).await
}

fn desired(prepared: &[Prepared], states: &[DiffState]) -> Vec<Desired> {
    prepared
        .iter()
        .zip(states)
        .map(|(p, &state)| Desired {
            key: p.key.clone(),
            wave: p.wave,
            options: p.options,
            state,
        })
        .collect()
}

fn planned_leaving(
    owned: &[Leaving],
    request: &SyncRequest,
) -> Result<Vec<plan::Leaving>, ClusterError> {
    let invalid = |e: &dyn std::fmt::Display| ClusterError::Invalid(e.to_string());
    owned
        .iter()
        .map(|l| {
            let name = l.key.to_string();
            Ok(plan::Leaving {
                key: l.key.clone(),
                wave: plan::wave_of(&l.live, &l.key).map_err(|e| invalid(&e))?,
                options: request
                    .options
                    .for_object(&l.live, &name)
                    .map_err(|e| invalid(&e))?,
            })
        })
        .collect()
}

fn note(key: &ObjectKey, action: Action, message: &str) -> ObjectOutcome {
    ObjectOutcome {
        key: key.clone(),
        action,
        message: message.to_owned(),
    }
}

/// What a real sync would do, from the dry-run comparison.
fn report_dry_run(
    plan: &plan::Plan,
    prepared: &[Prepared],
    states: &[DiffState],
    owned: &[Leaving],
    outcome: &mut SyncOutcome,
) {
    for wave in &plan.waves {
        for &i in wave.apply.iter().flatten() {
            let action = match states[i] {
                DiffState::Missing => Action::Created,
                DiffState::Modified => Action::Configured,
                DiffState::Unchanged | DiffState::Prune => Action::Unchanged,
            };
            outcome
                .objects
                .push(note(&prepared[i].key, action, "dry run"));
        }
        for &i in &wave.prune {
            outcome
                .objects
                .push(note(&owned[i].key, Action::Pruned, "dry run"));
        }
    }
    for &i in &plan.prune_last {
        outcome
            .objects
            .push(note(&owned[i].key, Action::Pruned, "dry run"));
    }
}

/// Applies the objects of one step in parallel (in plan order as far as parallelism allows).
/// Kinds a CRD of an earlier step declared are resolved first; after a step of Namespaces or
/// CRDs, waits for them to be established (the `Err` says why they were not).
async fn apply_step(
    client: &Client,
    catalog: &mut Catalog,
    prepared: &mut [Prepared],
    step: &[usize],
    live: &HashMap<ObjectKey, Value>,
    request: &SyncRequest,
) -> (Vec<ObjectOutcome>, Result<(), String>) {
    if step.iter().any(|&i| prepared[i].resource.is_none()) {
        if let Err(err) = catalog.refresh().await {
            tracing::warn!(error = %err, "discovery refresh failed");
        }
        resolve_pending(prepared, catalog);
    }
    let prepared_ref: &[Prepared] = prepared;
    let applies: Vec<_> = step
        .iter()
        .map(|&i| {
            let object = &prepared_ref[i];
            apply_one(client, object, live.get(&object.key), request)
        })
        .collect();
    let outcomes = parallel::run(applies, request.parallelism).await;
    let rank = step.first().map(|&i| kind_rank(&prepared[i].key));
    let mut established = Ok(());
    if rank.is_some_and(|r| r <= DISCOVERY_RANK)
        && outcomes.iter().all(|o| o.action != Action::Failed)
    {
        let objects = located(step.iter().map(|&i| &prepared[i]));
        established =
            wait::healthy(client, &objects, request.wave_timeout, request.parallelism).await;
    }
    (outcomes, established)
}

async fn apply_one(
    client: &Client,
    object: &Prepared,
    live: Option<&Value>,
    request: &SyncRequest,
) -> ObjectOutcome {
    let Some(resource) = &object.resource else {
        return note(
            &object.key,
            Action::Failed,
            "its kind is not served by the cluster",
        );
    };
    let body = body(object, live, &request.ignore);
    let (action, message) = ssa::apply(client, object, resource, &body, live).await;
    note(&object.key, action, &message)
}

/// Deletes `objects` one by one, in order.
async fn prune_all<'a>(
    client: &Client,
    objects: impl Iterator<Item = &'a Leaving>,
    outcome: &mut SyncOutcome,
) {
    for object in objects {
        let (key, resource) = (&object.key, &object.resource);
        let result = ssa::delete(client, resource, &key.namespace, &key.name).await;
        outcome.objects.push(match result {
            Ok(()) => note(key, Action::Pruned, ""),
            Err(err) => note(
                key,
                Action::Failed,
                &format!("prune failed: {}", api_message(&err)),
            ),
        });
    }
}

/// After a sync that stopped: everything of before plus everything desired, so that nothing
/// is forgotten (and a later sync can still prune it).
fn merged(previous: &Inventory, prepared: &[Prepared]) -> Inventory {
    Inventory::new(
        previous
            .iter()
            .map(|(k, v)| (k.clone(), v.to_owned()))
            .chain(versions(prepared)),
    )
}

/// After a complete sync: the desired objects, plus owned objects that were kept
/// (`Prune=false`) or could not be deleted.
fn next_inventory(
    prepared: &[Prepared],
    owned: &[Leaving],
    plan: &plan::Plan,
    outcome: &SyncOutcome,
) -> Inventory {
    let failed: BTreeSet<&ObjectKey> = outcome
        .objects
        .iter()
        .filter(|o| o.action == Action::Failed)
        .map(|o| &o.key)
        .collect();
    let kept = owned
        .iter()
        .enumerate()
        .filter(|(i, l)| plan.prune_skipped.contains(i) || failed.contains(&l.key));
    Inventory::new(
        versions(prepared)
            .chain(kept.map(|(_, l)| (l.key.clone(), l.resource.api.version.clone()))),
    )
}

fn versions(prepared: &[Prepared]) -> impl Iterator<Item = (ObjectKey, String)> + '_ {
    prepared.iter().map(|p| {
        let version = p
            .api_version
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        (p.key.clone(), version)
    })
}
