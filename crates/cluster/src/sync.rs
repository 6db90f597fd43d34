//! Runs a sync: prepare → read live → (compare when needed) → plan (pure) → apply wave by wave,
//! kind step by kind step, objects of a step in parallel → prune → new inventory.
//!
//! Guarantees: nothing is pruned when an apply failed, when a wave did not become healthy, or
//! when the desired set is empty (unless allowed); only owned objects of the previous inventory
//! are ever deleted (through `delete::delete_owned`); an object another application owns is
//! never applied over; the next inventory forgets no object that may still need pruning; a dry
//! run changes nothing.

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
use crate::delete::{DeleteError, delete_owned};
use crate::discovery::Catalog;
use crate::error::{ClusterError, api_message};
use crate::prepare::{Prepared, located, resolve_pending};
use crate::prune::{self, Departed, Leaving};
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
    /// How long a wave may take to become healthy before the sync stops (and how long a
    /// delete-and-recreate waits for the old object to go).
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
    let departed = departed_objects(client, catalog, &prepared, previous, request).await?;
    let owned: &[Leaving] = if request.prune { &departed.owned } else { &[] };
    let plan = plan::plan(
        &desired(&prepared, &states),
        &planned_leaving(owned, request)?,
    );
    let mut outcome = SyncOutcome::default();
    report_kept(
        &plan,
        &prepared,
        owned,
        &departed,
        request.prune,
        &mut outcome,
    );
    if request.dry_run {
        report_dry_run(
            &plan,
            &prepared,
            &states,
            &live,
            owned,
            request,
            &mut outcome,
        );
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
    let app = &request.app;
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
                return Ok(next(previous, &prepared, &departed, outcome));
            }
        }
        prune_all(
            client,
            app,
            wave.prune.iter().map(|&i| &owned[i]),
            &mut outcome,
        )
        .await;
        if n < last || !plan.prune_last.is_empty() {
            let objects = located(wave.apply.iter().flatten().map(|&i| &prepared[i]));
            let timeout = request.wave_timeout;
            if let Err(why) = wait::healthy(client, &objects, timeout, parallelism).await {
                outcome.stopped = Some(format!("wave {} is not healthy: {why}", wave.wave));
                return Ok(next(previous, &prepared, &departed, outcome));
            }
        }
    }
    let last_pruned = plan.prune_last.iter().map(|&i| &owned[i]);
    prune_all(client, app, last_pruned, &mut outcome).await;
    Ok(next(previous, &prepared, &departed, outcome))
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

/// What became of the objects that left the desired set. When pruning, an empty desired set is
/// refused first (unless allowed), before anything is read or deleted.
async fn departed_objects(
    client: &Client,
    catalog: &Catalog,
    prepared: &[Prepared],
    previous: &Inventory,
    request: &SyncRequest,
) -> Result<Departed, ClusterError> {
    let keys: BTreeSet<ObjectKey> = prepared.iter().map(|p| p.key.clone()).collect();
    if request.prune {
        previous
            .guard_empty(&keys, request.allow_empty)
            .map_err(ClusterError::PruneRefused)?;
    }
    let (app, n) = (&request.app, request.parallelism);
    prune::departed(client, catalog, app, previous, &keys, n).await
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

/// The objects a sync keeps although they left the desired set — `Prune=false`, not pruning,
/// kind not served — and the desired objects skipped as in sync.
fn report_kept(
    plan: &plan::Plan,
    prepared: &[Prepared],
    owned: &[Leaving],
    departed: &Departed,
    prune: bool,
    outcome: &mut SyncOutcome,
) {
    for &i in &plan.prune_skipped {
        let key = &owned[i].key;
        outcome
            .objects
            .push(note(key, Action::PruneSkipped, "sync option Prune=false"));
    }
    if !prune {
        for leaving in &departed.owned {
            let why = "it left the desired set; this sync does not prune";
            outcome
                .objects
                .push(note(&leaving.key, Action::PruneRequired, why));
        }
    }
    for key in &departed.unresolved {
        let why = "its kind is not served by the cluster; kept in the inventory";
        outcome.objects.push(note(key, Action::PruneSkipped, why));
    }
    for &i in &plan.skipped {
        let key = &prepared[i].key;
        outcome
            .objects
            .push(note(key, Action::Unchanged, "in sync, not applied"));
    }
}

/// What a real sync would do, from the dry-run comparison.
fn report_dry_run(
    plan: &plan::Plan,
    prepared: &[Prepared],
    states: &[DiffState],
    live: &HashMap<ObjectKey, Value>,
    owned: &[Leaving],
    request: &SyncRequest,
    outcome: &mut SyncOutcome,
) {
    for wave in &plan.waves {
        for &i in wave.apply.iter().flatten() {
            let key = &prepared[i].key;
            let conflict = live.get(key).and_then(|l| conflict(request, l));
            let (action, message) = match (conflict, states[i]) {
                (Some(why), _) => (Action::Failed, format!("{why} (dry run)")),
                (None, DiffState::Missing) => (Action::Created, "dry run".to_owned()),
                (None, DiffState::Modified) => (Action::Configured, "dry run".to_owned()),
                (None, DiffState::Unchanged | DiffState::Prune) => {
                    (Action::Unchanged, "dry run".to_owned())
                }
            };
            outcome.objects.push(note(key, action, &message));
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

/// Why `live` must not be applied over for `request.app`: it belongs to another application.
fn conflict(request: &SyncRequest, live: &Value) -> Option<String> {
    request.app.owner_of(live).conflict(&request.app)
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
    if let Some(why) = live.and_then(|l| conflict(request, l)) {
        return note(&object.key, Action::Failed, &why);
    }
    let body = body(object, live, &request.ignore);
    let ctx = ssa::ApplyContext {
        app: &request.app,
        recreate_timeout: request.wave_timeout,
    };
    let (action, message) = ssa::apply(client, object, resource, &body, live, ctx).await;
    note(&object.key, action, &message)
}

/// Deletes `objects` one by one, in order, each only if the application still owns it.
async fn prune_all<'a>(
    client: &Client,
    app: &AppId,
    objects: impl Iterator<Item = &'a Leaving>,
    outcome: &mut SyncOutcome,
) {
    for object in objects {
        let (key, resource) = (&object.key, &object.resource);
        let api = live::api(client, resource, &key.namespace);
        outcome
            .objects
            .push(match delete_owned(&api, app, key, &object.live).await {
                Ok(_) => note(key, Action::Pruned, ""),
                Err(err @ DeleteError::NotOwned { .. }) => {
                    note(key, Action::PruneSkipped, &err.to_string())
                }
                Err(err) => note(key, Action::Failed, &format!("prune failed: {err}")),
            });
    }
}

/// The outcome, and the inventory to keep: every desired object, plus every object of
/// `previous` that left the desired set and was neither pruned, nor found gone, nor found owned
/// by something else — also after a sync that stopped, so that nothing is forgotten and a later
/// sync can still prune it.
fn next(
    previous: &Inventory,
    prepared: &[Prepared],
    departed: &Departed,
    outcome: SyncOutcome,
) -> (SyncOutcome, Inventory) {
    let mut forgotten = departed.forgotten.clone();
    let pruned = outcome
        .objects
        .iter()
        .filter(|o| o.action == Action::Pruned);
    forgotten.extend(pruned.map(|o| o.key.clone()));
    let inventory = previous.carry_over(versions(prepared), &forgotten);
    (outcome, inventory)
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
