//! A sync, one stage per call: apply one kind step of a wave, look once whether Namespaces and
//! CRDs are established (then refresh discovery), prune, look once whether a wave is healthy.
//! Nothing here sleeps or polls: a stage that must wait answers `Requeue { after }` and is
//! looked at again on the next call, until it is ready or its time (`wave_timeout`, counted
//! from when the stage began) is up. The position is a [`Cursor`] (pure, in `capstan-core`), so
//! a controller can keep it in the Application's operation state and resume from it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use capstan_api::{
    AppliedFingerprints, Operation, OperationPhase, OperationState, Reason, SyncResult,
};
use capstan_core::fingerprint;
use capstan_core::object::ObjectKey;
use capstan_core::outcome::{Action, ObjectOutcome, Stop, SyncOutcome};
use capstan_core::plan::{DISCOVERY_RANK, kind_rank};
use capstan_core::progress::{Cursor, Stage};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;

use crate::compare::body;
use crate::delete::{DeleteError, delete_owned};
use crate::discovery::Catalog;
use crate::error::{ClusterError, api_message, classify};
use crate::prepare::{Prepared, located, resolve_pending};
use crate::prune::Leaving;
use crate::run::{Run, note};
use crate::wait::{self, Readiness};
use crate::{live, parallel, ssa};

/// How long to wait before looking again at objects that are not ready yet.
pub const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Where a sync stands and what it has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The stage to run next.
    pub cursor: Cursor,
    /// When that stage began (a waiting stage times out `wave_timeout` after it).
    pub since: SystemTime,
    /// What happened to each object so far, and why the sync stopped, if it did.
    pub outcome: SyncOutcome,
}

impl Progress {
    /// A sync of `run` about to begin at `now`; the outcome starts with what it keeps.
    pub fn start(run: &Run, now: SystemTime) -> Progress {
        let create = run.request.options.create_namespace;
        Progress {
            cursor: Cursor::start(&run.plan, create),
            since: now,
            outcome: SyncOutcome {
                objects: run.kept(),
                stopped: None,
            },
        }
    }
}

impl Progress {
    /// The operation state to keep in an Application's status: the phase (Running, Succeeded,
    /// or Failed with its reason and message), where the sync stands (wave, kind step), and each
    /// object's result so far, for `revision`. `now` is the finishing time when it has ended.
    pub fn operation_state(
        &self,
        run: &Run,
        operation: Operation,
        revision: &str,
        started_at: Time,
        now: Time,
    ) -> OperationState {
        let phase = match (&self.outcome.stopped, self.cursor.stage) {
            (Some(_), _) => OperationPhase::Failed,
            (None, Stage::Done) => OperationPhase::Succeeded,
            (None, _) => OperationPhase::Running,
        };
        let step = match self.cursor.stage {
            Stage::Apply(n) | Stage::Established(n) => Some(step_rank(run, self.cursor.wave, n)),
            _ => None,
        };
        let versions: HashMap<&ObjectKey, &str> =
            run.prepared.iter().map(|p| (&p.key, p.version())).collect();
        let resources = self
            .outcome
            .objects
            .iter()
            .map(|o| o.result(versions.get(&o.key).copied().unwrap_or_default()))
            .collect();
        OperationState {
            operation,
            phase,
            reason: self.outcome.stopped.as_ref().map(|s| s.reason),
            message: self
                .outcome
                .stopped
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            started_at,
            finished_at: phase.is_completed().then_some(now),
            wave: run.plan.waves.get(self.cursor.wave).map(|w| w.wave),
            step,
            retry_count: 0,
            initiated_by: None,
            sync_result: Some(SyncResult {
                revision: revision.to_owned(),
                resources,
            }),
        }
    }
}

/// What the caller does after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The sync is complete.
    Done,
    /// Call `step` again after this long (zero: at once).
    Requeue {
        /// How long to wait first.
        after: Duration,
    },
    /// The sync stopped; `progress.outcome.stopped` says why in words. Nothing more is applied
    /// or pruned.
    Failed {
        /// Why, bounded.
        reason: Reason,
    },
}

/// Runs the stage at `progress.cursor` and moves the cursor on. `now` is the time of the call.
pub async fn step(
    client: &Client,
    catalog: &mut Catalog,
    run: &mut Run,
    progress: &mut Progress,
    now: SystemTime,
) -> Step {
    let cursor = progress.cursor;
    let wave_number = run.plan.waves.get(cursor.wave).map_or(0, |w| w.wave);
    let stopped = match cursor.stage {
        Stage::Done => return Step::Done,
        Stage::CreateNamespace => create_namespace(client, run).await.err(),
        Stage::Apply(n) => {
            let applied = apply_step(client, catalog, run, cursor.wave, n).await;
            let failed = applied.iter().find(|o| o.action == Action::Failed);
            // The first failure, named: what a user reads in the Application's Ready condition.
            let stop = failed.map(|o| Stop {
                reason: o.reason.unwrap_or(Reason::ApplyFailed),
                message: format!(
                    "an apply failed in wave {wave_number}: {}: {}",
                    o.key, o.message
                ),
            });
            progress.outcome.objects.extend(applied);
            match stop {
                Some(stop) => Some(stop),
                None => {
                    let established = step_rank(run, cursor.wave, n) <= DISCOVERY_RANK;
                    return advance(run, progress, now, established);
                }
            }
        }
        Stage::Established(_) => {
            let objects = waiting_on(run, cursor);
            match look(client, run, &objects, progress, now).await {
                Ok(None) => {
                    if let Err(err) = catalog.refresh().await {
                        tracing::warn!(error = %err, "discovery refresh failed");
                    }
                    resolve_pending(&mut run.prepared, catalog);
                    None
                }
                Ok(Some(after)) => return Step::Requeue { after },
                Err((reason, why)) => Some(Stop {
                    reason: if reason == Reason::HealthCheckFailed {
                        Reason::NotEstablished
                    } else {
                        reason
                    },
                    message: format!("wave {wave_number}: {why}"),
                }),
            }
        }
        Stage::Prune => {
            let leaving = run.plan.waves[cursor.wave].prune.clone();
            prune_all(client, run, &leaving, &mut progress.outcome).await;
            None
        }
        Stage::Healthy => {
            let objects = waiting_on(run, cursor);
            match look(client, run, &objects, progress, now).await {
                Ok(None) => None,
                Ok(Some(after)) => return Step::Requeue { after },
                Err((reason, why)) => Some(Stop {
                    reason,
                    message: format!("wave {wave_number} is not healthy: {why}"),
                }),
            }
        }
        Stage::PruneLast => {
            let leaving = run.plan.prune_last.clone();
            prune_all(client, run, &leaving, &mut progress.outcome).await;
            None
        }
    };
    match stopped {
        Some(stop) => {
            let reason = stop.reason;
            progress.outcome.stopped = Some(stop);
            Step::Failed { reason }
        }
        None => advance(run, progress, now, false),
    }
}

/// Moves past the current stage.
fn advance(run: &Run, progress: &mut Progress, now: SystemTime, established: bool) -> Step {
    progress.cursor = progress.cursor.after(&run.plan, established);
    progress.since = now;
    match progress.cursor.stage {
        Stage::Done => Step::Done,
        _ => Step::Requeue {
            after: Duration::ZERO,
        },
    }
}

/// One look at whether `objects` are ready: `Ok(None)` when they are, `Ok(Some(after))` to look
/// again later, `Err` (`HealthCheckFailed`, or the read's reason) when one is Degraded, the read
/// failed, or the stage's time is up.
async fn look(
    client: &Client,
    run: &Run,
    objects: &[(ObjectKey, crate::Resource)],
    progress: &Progress,
    now: SystemTime,
) -> Result<Option<Duration>, (Reason, String)> {
    let timeout = run.request.wave_timeout;
    let readiness = wait::check(client, objects, run.request.parallelism.max(1))
        .await
        .map_err(|e: ClusterError| (e.reason(), e.to_string()))?;
    match readiness {
        Readiness::Ready => Ok(None),
        Readiness::Degraded(why) => Err((Reason::HealthCheckFailed, why)),
        Readiness::Waiting(why) => {
            let waited = now.duration_since(progress.since).unwrap_or_default();
            if waited >= timeout {
                let why = format!("timed out after {timeout:?} waiting for {why}");
                Err((Reason::HealthCheckFailed, why))
            } else {
                Ok(Some(LOOK_AGAIN.min(timeout - waited)))
            }
        }
    }
}

/// The objects the stage at `cursor` waits for (none for a stage that does not wait).
pub fn waiting_on(run: &Run, cursor: Cursor) -> Vec<(ObjectKey, crate::Resource)> {
    match cursor.stage {
        Stage::Established(n) => located(step_objects(run, cursor.wave, n)),
        Stage::Healthy => {
            let wave = &run.plan.waves[cursor.wave];
            let objects = wave.apply.iter().flatten().chain(&wave.held);
            located(objects.map(|&i| &run.prepared[i]))
        }
        _ => Vec::new(),
    }
}

/// The objects of step `n` of wave `wave`.
fn step_objects(run: &Run, wave: usize, n: usize) -> impl Iterator<Item = &Prepared> {
    run.plan.waves[wave].apply[n]
        .iter()
        .map(|&i| &run.prepared[i])
}

/// The kind rank of step `n` of wave `wave` (all its objects share it).
fn step_rank(run: &Run, wave: usize, n: usize) -> u8 {
    step_objects(run, wave, n)
        .next()
        .map_or(u8::MAX, |p| kind_rank(&p.key))
}

/// Creates the destination namespace when it is missing.
async fn create_namespace(client: &Client, run: &Run) -> Result<(), Stop> {
    let namespace = &run.request.namespace;
    ssa::create_namespace(client, namespace)
        .await
        .map_err(|err| Stop {
            reason: classify(&err).reason(Reason::NamespaceCreateFailed),
            message: format!(
                "failed to create namespace {namespace}: {}",
                api_message(&err)
            ),
        })
}

/// Applies the objects of one step in parallel (in plan order as far as parallelism allows).
/// Kinds a CRD of an earlier step declared are resolved first.
async fn apply_step(
    client: &Client,
    catalog: &mut Catalog,
    run: &mut Run,
    wave: usize,
    n: usize,
) -> Vec<ObjectOutcome> {
    let step = run.plan.waves[wave].apply[n].clone();
    if step.iter().any(|&i| run.prepared[i].resource.is_none()) {
        if let Err(err) = catalog.refresh().await {
            tracing::warn!(error = %err, "discovery refresh failed");
        }
        resolve_pending(&mut run.prepared, catalog);
    }
    let shared: &Run = run;
    let applies: Vec<_> = step
        .iter()
        .map(|&i| apply_one(client, shared, &shared.prepared[i]))
        .collect();
    let results = parallel::run(applies, shared.request.parallelism).await;
    let mut outcomes = Vec::with_capacity(results.len());
    for (outcome, fingerprints) in results {
        match fingerprints {
            Some(known) => run.fingerprints.insert(outcome.key.clone(), known),
            None => run.fingerprints.remove(&outcome.key),
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Applies one object; returns its outcome and the fingerprints of what was applied.
async fn apply_one(
    client: &Client,
    run: &Run,
    object: &Prepared,
) -> (ObjectOutcome, Option<AppliedFingerprints>) {
    let key = &object.key;
    let Some(resource) = &object.resource else {
        let why = "its kind is not served by the cluster";
        return (ObjectOutcome::failed(key, Reason::UnknownKind, why), None);
    };
    if let Some(why) = run.conflict(key) {
        let reason = Reason::OwnedByOtherApplication;
        return (ObjectOutcome::failed(key, reason, &why), None);
    }
    let live = run.live.get(key);
    let body = body(object, live, &run.request.ignore);
    let ctx = ssa::ApplyContext {
        app: &run.request.app,
        recreate_timeout: run.request.wave_timeout,
    };
    let applied = ssa::apply(client, object, resource, &body, live, ctx).await;
    let known = applied
        .stored
        .as_ref()
        .and_then(|stored| fingerprint::applied(key, &body, stored));
    let mut outcome = note(key, applied.action, &applied.message);
    outcome.reason = applied.reason;
    (outcome, known)
}

/// Deletes the owned objects at `indexes`, one by one, in order, each only if the application
/// still owns it.
async fn prune_all(client: &Client, run: &Run, indexes: &[usize], outcome: &mut SyncOutcome) {
    for &i in indexes {
        let Leaving {
            key,
            resource,
            live: checked,
        } = &run.owned()[i];
        let api = live::api(client, resource, &key.namespace);
        let result = delete_owned(&api, &run.request.app, key, checked).await;
        outcome.objects.push(match result {
            Ok(_) => note(key, Action::Pruned, ""),
            Err(err @ DeleteError::NotOwned { .. }) => {
                note(key, Action::PruneSkipped, &err.to_string()).because(err.reason())
            }
            Err(err) => ObjectOutcome::failed(key, err.reason(), &format!("prune failed: {err}")),
        });
    }
}
