//! The reconcile driver: read the source credentials → render the revision → prepare → compare
//! with the shared caches → sync when the policy says so → status from the pure
//! `compute_status`, patched only when it changed. Every stage's failure becomes part of the
//! outcome (and so of status, with its reason) instead of an error that loops.

use std::sync::Arc;
use std::time::Duration;

use capstan_api::application::{Application, InitiatedBy};
use capstan_api::{FINALIZER, PRUNE_ON_DELETE_ANNOTATION};
use capstan_api::{Operation, OperationPhase};
use capstan_core::app_status::{CommitSummary, Failure, ReconcileOutcome, compute_status};
use capstan_core::inventory::Inventory;
use capstan_core::tracking::AppId;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::context::Context;
use crate::metrics::ReconcileResult;
use crate::quiet::Inputs;
use crate::stages::{self, Synced};
use crate::{events, poll, retry, thin};

/// How long triggers of one Application are gathered into one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// How many Applications are reconciled at once. Unbounded, a cold start of every Application
/// holds every render, request body and API connection at once (the controller's peak memory);
/// the API server is the bottleneck well before this many.
const RECONCILES_AT_ONCE: u16 = 16;

/// How soon a reconcile that failed in an unexpected way (writing status) runs again.
const ERROR_REQUEUE: Duration = Duration::from_secs(5);

/// Why a reconcile could not even report: the status patch failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Application has no namespace or name.
    #[error("the Application has no namespace or name")]
    Unnamed,
    /// Deleting the objects of a deleted Application failed (it is tried again).
    #[error("failed to delete the objects of a deleted application: {0}")]
    Cleanup(String),
    /// The finalizer could not be added or removed, or its step failed.
    #[error("finalizer")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<ReconcileError>>),
    /// Writing the status failed.
    #[error("failed to write the status of application {app}")]
    Status {
        /// The application.
        app: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Reconciles one Application: keeps it in sync while it exists, and when it is deleted
/// decides, through the finalizer, what becomes of its objects.
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = app
        .metadata
        .namespace
        .clone()
        .ok_or(ReconcileError::Unnamed)?;
    let api = Api::<Application>::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, app, |event| async {
        match event {
            FinalizerEvent::Apply(app) => apply(app, &ctx).await,
            FinalizerEvent::Cleanup(app) => cleanup(&app, &ctx).await,
        }
    })
    .await
    .map_err(|err| ReconcileError::Finalizer(Box::new(err)))
}

/// Reconciles `app` when this replica holds its shard, every write obeying the shard's fence,
/// and stops at once if the shard is lost meanwhile. An Application of another shard is left
/// to the replica holding it; taking a shard reconciles every Application again.
async fn reconcile_held(
    app: Arc<Application>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let Some(mut held) = ctx.shards.holding(&app) else {
        // Not this replica's to reconcile now; its caches are kept warm for a takeover.
        stages::warm(&ctx, &app).await;
        return Ok(Action::await_change());
    };
    let fence = held.fence.clone();
    tokio::select! {
        result = capstan_cluster::fence::fenced(fence, reconcile(app, ctx)) => result,
        () = held.lost() => Ok(Action::await_change()),
    }
}

/// One reconcile of an Application that exists.
async fn apply(app: Arc<Application>, ctx: &Context) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(_), Some(id)) = (
        &app.metadata.namespace,
        &app.metadata.name,
        stages::app_id(&app),
    ) else {
        return Err(ReconcileError::Unnamed);
    };
    let started = std::time::Instant::now();
    // A request already run whose removal the cache has not shown yet is not run again.
    let requested = app.operation.is_some() && !ctx.requests.ran(&app);
    let (outcome, requeue, inputs, whole) = pipeline(ctx, &app, &id, requested).await;
    let Some(mut outcome) = outcome else {
        // Nothing it depends on changed since a compare found it Synced: nothing to report.
        let took = started.elapsed();
        ctx.metrics
            .record_reconcile(ReconcileResult::Unchanged, None, took);
        return Ok(Action::requeue(requeue));
    };
    // The status is computed from the Application whole, never from the thin copy; the versions
    // seen start with the thin copy's, which a later reconcile from the cache may start from.
    let thin_version = app.metadata.resource_version.clone();
    let app = match whole {
        Some(whole) => whole,
        None => match thin::whole(&ctx.client, &app).await {
            Ok(whole) => whole,
            Err(failure) => {
                outcome.failure = Some(failure);
                record(ctx, &outcome, started.elapsed());
                return Ok(Action::requeue(ERROR_REQUEUE));
            }
        },
    };
    record(ctx, &outcome, started.elapsed());
    // Skipped again only once this outcome is in status.
    ctx.quiet.set(&id, None);
    let api = Api::<Application>::namespaced(ctx.client.clone(), namespace);
    let mut versions =
        report(ctx, &api, &app, &outcome)
            .await
            .map_err(|source| ReconcileError::Status {
                app: id.to_string(),
                source,
            })?;
    if let Some(thin) = thin_version.filter(|v| !versions.contains(v)) {
        versions.insert(0, thin);
    }
    ctx.quiet.set(&id, inputs);
    let version = versions.last().cloned();
    // A request is taken off only once its result is in status, so a crash never loses it; one
    // that did not run (suspended, waiting for a dependency, a source that does not render)
    // stays and runs when it can.
    let ran = requested && outcome.operation.is_some();
    if ran {
        ctx.requests.remember(&app, versions);
    }
    if ran && let Err(error) = stages::take_operation(ctx, &app, version).await {
        tracing::warn!(app = %id, %error, "cannot take the sync request; it runs again");
    }
    Ok(Action::requeue(requeue))
}

/// How many times a status write is computed again after a conflict.
const STATUS_ATTEMPTS: usize = 3;

/// Writes the status `outcome` makes of `app`'s, when it changes, whole (a PUT of the status
/// subresource), conditioned on the version it was computed from: a reconcile that started from a stale read (the watch lagging behind the
/// controller's own last write) gets a conflict, reads the Application again and computes the
/// status from the current one — never writing an older status back. Events for the changes go
/// out once the write succeeded. Returns the versions of the Application seen, oldest first,
/// ending with the current one.
async fn report(
    ctx: &Context,
    api: &Api<Application>,
    app: &Application,
    outcome: &ReconcileOutcome,
) -> Result<Vec<String>, kube::Error> {
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let mut current = std::borrow::Cow::Borrowed(app);
    let mut versions: Vec<String> = app.metadata.resource_version.iter().cloned().collect();
    for attempt in 1..=STATUS_ATTEMPTS {
        let status = compute_status(current.status.as_ref(), outcome, &stages::now());
        if current.status.as_ref() == Some(&status) {
            return Ok(versions);
        }
        // The whole status is replaced (a merge patch would keep fields the new status leaves
        // out, such as a health message that no longer applies, and differ forever), on the
        // condition that the Application is still at the version read.
        let mut next = current.as_ref().clone();
        next.status = Some(status.clone());
        match api
            .replace_status(name, &PostParams::default(), &next)
            .await
        {
            Ok(patched) => {
                let changes = events::transitions(current.status.as_ref(), &status);
                events::publish(&ctx.recorder, &app.object_ref(&()), changes).await;
                versions.extend(patched.metadata.resource_version);
                return Ok(versions);
            }
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < STATUS_ATTEMPTS => {
                let fresh = api.get(name).await?;
                versions.extend(fresh.metadata.resource_version.clone());
                current = std::borrow::Cow::Owned(fresh);
            }
            Err(err) => return Err(err),
        }
    }
    Ok(versions)
}

/// An Application is being deleted: its objects are deleted when its policy prunes (or the
/// `capstan.dev/prune-on-delete` annotation asks), each only if this Application owns it;
/// otherwise they stay as they are. Never another Application's objects.
async fn cleanup(app: &Application, ctx: &Context) -> Result<Action, ReconcileError> {
    // The inventory it deletes from is not in the thin copy.
    let app = &*thin::whole(&ctx.client, app)
        .await
        .map_err(|failure| ReconcileError::Cleanup(failure.message))?;
    let prunes = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref())
        .is_some_and(|a| a.prune);
    let asked = app
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PRUNE_ON_DELETE_ANNOTATION))
        .is_some_and(|v| v == "true");
    if prunes || asked {
        stages::delete_objects(ctx, app)
            .await
            .map_err(|failure| ReconcileError::Cleanup(failure.message))?;
    }
    Ok(Action::await_change())
}

/// What a pipeline returns: what status needs (`None`: a re-compare skipped, nothing it
/// depends on changed since the last found everything Synced), when to look again, when
/// everything is Synced what the compare depended on, and the Application whole if it was read.
type Pipelined = (
    Option<ReconcileOutcome>,
    Duration,
    Option<Inputs>,
    Option<Arc<Application>>,
);

/// The stages, in order, from the thin copy `app`: read whole once a re-compare cannot be
/// skipped (see [`Pipelined`]).
async fn pipeline(ctx: &Context, app: &Application, id: &AppId, requested: bool) -> Pipelined {
    let interval = app.spec.refresh_interval();
    let refresh = retry::jittered(interval.unwrap_or(retry::DEFAULT_REFRESH), &id.to_string());
    let mut outcome = ReconcileOutcome {
        generation: app.metadata.generation,
        suspended: app.spec.suspend,
        ..ReconcileOutcome::default()
    };
    if app.spec.suspend {
        return (Some(outcome), refresh, None, None);
    }
    // Dependencies are awaited without polling: their status changes trigger this reconcile.
    match stages::waiting_for(ctx, app).await {
        Ok(waiting) if !waiting.is_empty() => {
            outcome.waiting_for = waiting;
            return (Some(outcome), refresh, None, None);
        }
        Ok(_) => {}
        Err(failure) => {
            outcome.failure = Some(failure);
            return (Some(outcome), ERROR_REQUEUE, None, None);
        }
    }
    let requested = requested.then(|| requested_sync(app)).flatten();
    // What this compare depends on, taken before it reads anything live.
    let mut inputs = None;
    let mut whole = None;
    let result: Result<Did, Failure> = async {
        let creds = stages::credentials(ctx, app).await?;
        let revision = requested.as_ref().map(|(op, _)| op.revision.clone());
        // A periodic re-compare takes the repository poll's recent check; anything a user or a
        // change asked for checks the server now.
        let fresh = ctx.refreshes.asked(app) || requested.is_some();
        // A periodic re-compare of an Application found Synced stops here when nothing it
        // depends on changed — before rendering (the commit from the poll's recent check).
        if !fresh && let Some(sha) = stages::recent_commit(ctx, app, &creds).await {
            inputs = stages::quiet_inputs(ctx, app, id, &sha).await;
            if inputs.as_ref().is_some_and(|i| ctx.quiet.unchanged(id, i)) {
                return Ok(Did::Unchanged);
            }
        }
        let app = &*whole.insert(thin::whole(&ctx.client, app).await?);
        // What is rendered, compared and synced is this read's spec.
        outcome.generation = app.metadata.generation;
        let previous = previous_inventory(app);
        let rendered = stages::render(ctx, app, &creds, revision.as_deref(), fresh).await?;
        let sha = rendered.commit.sha.clone();
        if requested.is_none() && inputs.as_ref().is_none_or(|i| i.commit != sha) {
            inputs = stages::quiet_inputs(ctx, app, id, &sha).await;
        }
        outcome.commit = Some(CommitSummary {
            sha: sha.clone(),
            subject: rendered.commit.subject.clone(),
        });
        let prepared = stages::prepared(ctx, app, id, rendered.objects).await?;
        let (live, comparison) = stages::compare(ctx, app, id, &prepared, &previous).await?;
        let objects = stages::object_states(&prepared, &live, &comparison);
        let out_of_sync = objects
            .iter()
            .any(|o| o.sync != capstan_api::SyncStatus::Synced);
        outcome.objects = Some(objects);
        // Fingerprints learnt by this compare's dry-runs spare the next compare those dry-runs.
        outcome.inventory = stages::refreshed_inventory(&previous, &prepared, &comparison);
        let decision = match requested {
            Some((operation, by)) => Decision::Sync(operation, by, 0, None),
            None => wanted_sync(app, &sha, out_of_sync),
        };
        let (operation, by, retries, resumed) = match decision {
            Decision::Sync(operation, by, retries, resumed) => (operation, by, retries, resumed),
            Decision::Later(after) => return Ok(Did::Wait(after)),
            Decision::Nothing if out_of_sync => return Ok(Did::Nothing),
            Decision::Nothing => return Ok(Did::InSync),
        };
        let parts = (prepared, live, comparison);
        // A sync that waited (or whose controller restarted) keeps the start it was recorded with.
        let started = resumed.unwrap_or_else(stages::now);
        let mut synced =
            stages::sync(ctx, app, id, parts, &previous, operation, &sha, started).await?;
        synced.operation.retry_count = retries;
        synced.operation.initiated_by = Some(by.clone());
        Ok(Did::Sync(Box::new(synced), by))
    }
    .await;
    let in_sync = matches!(result, Ok(Did::InSync));
    let inputs = inputs.filter(|_| in_sync);
    let (outcome, requeue) = match result {
        Ok(Did::Unchanged) => return (None, refresh, None, None),
        Ok(Did::Sync(synced, by)) => {
            let synced = *synced;
            let failed = synced.operation.phase == OperationPhase::Failed;
            if failed {
                // A failed sync makes Ready False with its reason (retried per the strategy).
                outcome.failure = Some(Failure {
                    reason: synced
                        .operation
                        .reason
                        .unwrap_or(capstan_api::Reason::ApplyFailed),
                    message: synced.operation.message.clone(),
                    retryable: true,
                });
            }
            outcome.operation = Some(synced.operation);
            outcome.initiated_by = Some(by);
            outcome.inventory = synced.inventory;
            // A failed sync is looked at again soon, so a retry strategy can take its turn.
            let again = if failed { ERROR_REQUEUE } else { refresh };
            (Some(outcome), synced.requeue.unwrap_or(again))
        }
        Ok(Did::Wait(after)) => (Some(outcome), after.min(refresh)),
        Ok(Did::Nothing | Did::InSync) => (Some(outcome), refresh),
        Err(failure) => {
            let after = if failure.retryable {
                ERROR_REQUEUE
            } else {
                refresh
            };
            outcome.failure = Some(failure);
            (Some(outcome), after)
        }
    };
    (outcome, requeue, inputs, whole)
}

/// The sync a user asked for in `operation`, resolved against the spec.
fn requested_sync(app: &Application) -> Option<(Operation, InitiatedBy)> {
    let request = app.operation.as_ref()?;
    let sync = request.sync.as_ref()?;
    let policy = app.spec.sync_policy.as_ref();
    let options = policy.map(|p| p.sync_options.as_slice()).unwrap_or(&[]);
    let operation = sync.resolve(app.spec.source.target_revision(), false, options);
    Some((operation, request.initiated_by.clone()))
}

/// What a reconcile did about syncing.
enum Did {
    /// It ran a sync (or its stages up to one that waits).
    Sync(Box<Synced>, InitiatedBy),
    /// A retry is due later.
    Wait(Duration),
    /// Nothing to sync, though not everything is Synced.
    Nothing,
    /// Everything Synced, nothing to sync.
    InSync,
    /// A re-compare skipped: nothing it depends on changed since everything was Synced.
    Unchanged,
}

/// Whether to sync now, later, or not.
enum Decision {
    /// Sync this operation, as asked by this initiator; the number of the retry (0: first try);
    /// when the sync resumes one still running, the time it started.
    Sync(Operation, InitiatedBy, u32, Option<Time>),
    /// A failed sync will be retried after this long.
    Later(Duration),
    /// Nothing to do.
    Nothing,
}

/// The sync to run without a request: the one still running (a stage waited); a retry of a
/// failed one per `syncPolicy.retry`; else what the automated policy asks — something out of
/// sync and either self-heal on or this (revision, generation) not attempted yet.
fn wanted_sync(app: &Application, revision: &str, out_of_sync: bool) -> Decision {
    let status = app.status.as_ref();
    let last = status.and_then(|s| s.operation_state.as_ref());
    if let Some(running) = last.filter(|op| op.phase == OperationPhase::Running) {
        let by = running.initiated_by.clone().unwrap_or_default();
        let started = Some(running.started_at.clone());
        return Decision::Sync(running.operation.clone(), by, running.retry_count, started);
    }
    let Some(policy) = app.spec.sync_policy.as_ref() else {
        return Decision::Nothing;
    };
    let by = InitiatedBy {
        username: String::new(),
        automated: true,
    };
    let same_revision = |op: &&capstan_api::OperationState| {
        op.sync_result
            .as_ref()
            .is_some_and(|r| r.revision == revision)
    };
    if let Some(failed) = last.filter(same_revision) {
        let since = failed.finished_at.as_ref().map_or(Duration::ZERO, |at| {
            let millis = stages::now().0.as_millisecond() - at.0.as_millisecond();
            Duration::from_millis(u64::try_from(millis).unwrap_or(0))
        });
        match retry::decide(policy.retry.as_ref(), failed, since) {
            retry::Retry::Now { attempt } => {
                return Decision::Sync(failed.operation.clone(), by, attempt, None);
            }
            retry::Retry::After(wait) => return Decision::Later(wait),
            retry::Retry::No => {}
        }
    }
    let Some(automated) = policy.automated.as_ref() else {
        return Decision::Nothing;
    };
    let same_generation = status.and_then(|s| s.observed_generation) == app.metadata.generation;
    let attempted = last.is_some_and(|op| same_revision(&op)) && same_generation;
    if out_of_sync && (automated.self_heal || !attempted) {
        let operation = Operation {
            revision: revision.to_owned(),
            prune: automated.prune,
            dry_run: false,
            sync_options: Vec::new(),
        };
        return Decision::Sync(operation, by, 0, None);
    }
    Decision::Nothing
}

/// The inventory the Application's status keeps.
fn previous_inventory(app: &Application) -> Inventory {
    let entries = app
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    Inventory::from_entries(entries).unwrap_or_default()
}

/// The Applications whose managed objects changed or were deleted (from the shared caches), so
/// drift is seen — and, with self-heal, reverted — within seconds instead of at the next refresh.
fn changed_applications(
    ctx: &Context,
) -> impl futures::Stream<Item = ObjectRef<Application>> + Send + 'static {
    let here = app_changes(ctx.live.changes());
    match ctx.remotes.changes() {
        Some(there) => futures::stream::select(here, app_changes(there)).boxed(),
        None => here.boxed(),
    }
}

/// The Applications named by the change notices of one cluster's caches.
fn app_changes(
    changes: tokio::sync::broadcast::Receiver<String>,
) -> impl futures::Stream<Item = ObjectRef<Application>> + Send + 'static {
    futures::stream::unfold(changes, |mut changes| async move {
        loop {
            match changes.recv().await {
                Ok(app) => {
                    if let Some((namespace, name)) = app.split_once('/') {
                        let reference = ObjectRef::new(name).within(namespace);
                        return Some((reference, changes));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Counts the reconcile (its sync's apply results are counted where they happen, in
/// `stages::sync`).
fn record(ctx: &Context, outcome: &ReconcileOutcome, took: Duration) {
    let (result, reason) = match &outcome.failure {
        Some(failure) => (ReconcileResult::Error, Some(failure.reason)),
        None => (ReconcileResult::Success, None),
    };
    ctx.metrics.record_reconcile(result, reason, took);
}

/// The Applications that read `secret` — source credentials, trusted keys, a destination's
/// kubeconfig — so a rotated password, key or kubeconfig is used at once.
fn secret_users(known: &Store<Application>, secret: &Secret) -> Vec<ObjectRef<Application>> {
    let (Some(namespace), Some(name)) = (&secret.metadata.namespace, &secret.metadata.name) else {
        return Vec::new();
    };
    known
        .state()
        .iter()
        .filter(|app| {
            app.metadata.namespace.as_ref() == Some(namespace)
                && secrets_of(app).any(|used| used == name)
        })
        .map(|app| ObjectRef::from_obj(app.as_ref()))
        .collect()
}

/// The names of the Secrets `app` reads, in its own namespace.
fn secrets_of(app: &Application) -> impl Iterator<Item = &String> {
    let spec = &app.spec;
    let source = spec.source.secret_ref.as_ref().map(|r| &r.name);
    let keys = spec.source.verify.as_ref().map(|v| &v.secret_ref.name);
    let cluster = spec
        .destination
        .kube_config_secret_ref
        .as_ref()
        .map(|r| &r.name);
    source.into_iter().chain(keys).chain(cluster)
}

/// The Applications whose `dependsOn` names `changed`: a dependency's status change wakes them.
fn dependents(known: &Store<Application>, changed: &Application) -> Vec<ObjectRef<Application>> {
    let (Some(namespace), Some(name)) = (&changed.metadata.namespace, &changed.metadata.name)
    else {
        return Vec::new();
    };
    known
        .state()
        .iter()
        .filter(|app| {
            let own = app.metadata.namespace.as_deref().unwrap_or_default();
            app.spec
                .depends_on
                .iter()
                .any(|d| &d.name == name && d.namespace.as_deref().unwrap_or(own) == namespace)
        })
        .map(|app| ObjectRef::from_obj(app.as_ref()))
        .collect()
}

/// What to do after a reconcile failed to report.
fn error_policy(_app: Arc<Application>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    tracing::warn!(error = %chain, "reconcile failed");
    Action::requeue(ERROR_REQUEUE)
}

/// Runs the Application controller until `shutdown` resolves, for the Applications of
/// `namespace`, or of every namespace when it is `None`.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let applications: Api<Application> = match namespace {
        Some(namespace) => Api::namespaced(ctx.client.clone(), namespace),
        None => Api::all(ctx.client.clone()),
    };
    // The Applications as the controller keeps them: thin copies (see `thin`), without
    // `managedFields` (a status written from such a copy leaves the stored ones as they are).
    let (known, writer) = kube::runtime::reflector::store();
    let pages = watcher::Config::default().page_size(capstan_cluster::live_cache::LIST_PAGE);
    let stream = watcher(applications.clone(), pages.clone())
        .default_backoff()
        .modify(thin::thin)
        .reflect(writer)
        .applied_objects();
    let controller = Controller::for_stream(stream, known.clone());
    let (wake, woken) = tokio::sync::mpsc::channel(256);
    let refreshes = Arc::clone(&ctx.refreshes);
    let refresher = crate::refresh::Refresher::new(known.clone(), wake.clone(), refreshes);
    if ctx.refresher.set(refresher).is_err() {
        tracing::warn!("the controller runs twice on one context; the first one's refresher stays");
    }
    let interval = ctx.poll_interval;
    let polling = tokio::spawn(poll::run(Arc::clone(&ctx), known.clone(), wake, interval));
    let moved = futures::stream::unfold(woken, |mut woken| async move {
        woken.recv().await.map(|app| (app, woken))
    });
    let secrets: Api<Secret> = match namespace {
        Some(namespace) => Api::namespaced(ctx.client.clone(), namespace),
        None => Api::all(ctx.client.clone()),
    };
    let users = known.clone();
    let secrets_seen = Arc::clone(&ctx);
    // Bursts of triggers (pods of a rollout becoming ready one by one) make one reconcile.
    let config = kube::runtime::controller::Config::default()
        .debounce(DEBOUNCE)
        .concurrency(RECONCILES_AT_ONCE);
    controller
        .with_config(config)
        .watches(applications, pages.clone(), move |changed| {
            dependents(&known, &changed)
        })
        .watches(secrets, pages, move |secret| {
            if let (Some(namespace), Some(name)) =
                (&secret.metadata.namespace, &secret.metadata.name)
            {
                secrets_seen.forget_secret(namespace, name);
            }
            secret_users(&users, &secret)
        })
        .reconcile_on(changed_applications(&ctx))
        .reconcile_on(moved)
        .reconcile_all_on(ctx.shards.acquisitions())
        .graceful_shutdown_on(shutdown)
        .run(reconcile_held, error_policy, ctx)
        .for_each(|result| {
            if let Err(err) = result {
                tracing::debug!(error = %err, "reconcile not run");
            }
            futures::future::ready(())
        })
        .await;
    polling.abort();
}
