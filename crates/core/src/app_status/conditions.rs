//! The kstatus conditions of an Application: `Ready` always; `Reconciling` (work under way) or
//! `Stalled` (no progress without a change) only when true, never both.
//!
//! One verdict decides all three, by the first rule that applies:
//!
//! | rule | Ready | reason | also |
//! |---|---|---|---|
//! | a failure | False | the failure's | `Reconciling` if retryable, else `Stalled` |
//! | suspended | False | `Suspended` | |
//! | waiting for `dependsOn` | False | `DependencyNotReady` | `Reconciling` |
//! | an operation `Running` or `Terminating` | False | `Progressing` | `Reconciling` |
//! | never compared, or compare `Unknown` | False | `Progressing` | `Reconciling` |
//! | `OutOfSync` | False | `OutOfSync` | |
//! | health `Progressing` (a rollout) | False | `Progressing` | `Reconciling` |
//! | health `Missing`, `Degraded`, `Unknown` | False | `HealthCheckFailed` | |
//! | `Synced`, health `Healthy` or `Suspended` | True | `Synced` | |
//!
//! A condition's `lastTransitionTime` moves to `now` only when its status changes (or it
//! appears); a new reason or message keeps the previous time.

use capstan_api::application::{
    ApplicationReference, ApplicationStatus, Condition, ConditionStatus, ConditionType,
};
use capstan_api::{HealthStatus, OperationPhase, OperationState, Reason, SyncStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{ReconcileOutcome, short_revision};

/// Work besides `Ready`: under way, or stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// `Reconciling` is true.
    Reconciling,
    /// `Stalled` is true.
    Stalled,
}

/// What the conditions say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    ready: bool,
    reason: Reason,
    message: String,
    progress: Option<Progress>,
}

impl Verdict {
    fn not_ready(reason: Reason, message: String, progress: Option<Progress>) -> Verdict {
        Verdict {
            ready: false,
            reason,
            message,
            progress,
        }
    }
}

/// The conditions of `status` (computed but for its conditions), in the order `Ready`,
/// `Reconciling`, `Stalled`.
pub(super) fn conditions(
    previous: Option<&ApplicationStatus>,
    outcome: &ReconcileOutcome,
    status: &ApplicationStatus,
    now: &Time,
) -> Vec<Condition> {
    let verdict = verdict(outcome, status);
    let condition = |type_: ConditionType, status: ConditionStatus| {
        let last_transition_time = previous
            .and_then(|p| p.condition(type_))
            .filter(|c| c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_,
            status,
            reason: verdict.reason,
            message: verdict.message.clone(),
            last_transition_time,
            observed_generation: outcome.generation,
        }
    };
    let ready = if verdict.ready {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let mut conditions = vec![condition(ConditionType::Ready, ready)];
    match verdict.progress {
        Some(Progress::Reconciling) => {
            conditions.push(condition(ConditionType::Reconciling, ConditionStatus::True));
        }
        Some(Progress::Stalled) => {
            conditions.push(condition(ConditionType::Stalled, ConditionStatus::True));
        }
        None => {}
    }
    conditions
}

/// The first rule of the module's table that applies.
fn verdict(outcome: &ReconcileOutcome, status: &ApplicationStatus) -> Verdict {
    use Progress::{Reconciling, Stalled};
    if let Some(failure) = &outcome.failure {
        let progress = if failure.retryable {
            Reconciling
        } else {
            Stalled
        };
        return Verdict::not_ready(failure.reason, failure.message.clone(), Some(progress));
    }
    if outcome.suspended {
        let message = "spec.suspend is true".to_string();
        return Verdict::not_ready(Reason::Suspended, message, None);
    }
    if !outcome.waiting_for.is_empty() {
        let message = format!("waiting for {}", references(&outcome.waiting_for));
        return Verdict::not_ready(Reason::DependencyNotReady, message, Some(Reconciling));
    }
    if let Some(op) = status
        .operation_state
        .as_ref()
        .filter(|op| !op.phase.is_completed())
    {
        return Verdict::not_ready(
            Reason::Progressing,
            operation_message(op),
            Some(Reconciling),
        );
    }
    let Some(sync) = status
        .sync
        .as_ref()
        .filter(|s| s.status != SyncStatus::Unknown)
    else {
        let message = "waiting for a comparison with the source".to_string();
        return Verdict::not_ready(Reason::Progressing, message, Some(Reconciling));
    };
    if sync.status == SyncStatus::OutOfSync {
        return Verdict::not_ready(Reason::OutOfSync, out_of_sync_message(status), None);
    }
    let (health, health_message) = status
        .health
        .as_ref()
        .map_or((HealthStatus::Unknown, ""), |h| {
            (h.status, h.message.as_str())
        });
    match health {
        HealthStatus::Healthy | HealthStatus::Suspended => {
            let at = sync
                .revision
                .as_deref()
                .map(|r| format!(" at {}", short_revision(r)))
                .unwrap_or_default();
            let message = if health == HealthStatus::Healthy {
                format!("in sync{at} and healthy")
            } else {
                format!("in sync{at}; suspended: {health_message}")
            };
            Verdict {
                ready: true,
                reason: Reason::Synced,
                message,
                progress: None,
            }
        }
        HealthStatus::Progressing => Verdict::not_ready(
            Reason::Progressing,
            health_message.to_string(),
            Some(Reconciling),
        ),
        HealthStatus::Missing | HealthStatus::Degraded | HealthStatus::Unknown => {
            let message = format!("health {health}: {health_message}");
            Verdict::not_ready(Reason::HealthCheckFailed, message, None)
        }
    }
}

/// `capstan/platform-crds, databases`.
fn references(refs: &[ApplicationReference]) -> String {
    refs.iter()
        .map(|r| match &r.namespace {
            Some(ns) => format!("{ns}/{}", r.name),
            None => r.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `syncing 4f2c1e0 (wave 0)`, `terminating the sync of main`.
fn operation_message(op: &OperationState) -> String {
    let revision = op
        .sync_result
        .as_ref()
        .map_or(op.operation.revision.as_str(), |r| r.revision.as_str());
    let revision = short_revision(revision);
    let wave = op.wave.map(|w| format!(" (wave {w})")).unwrap_or_default();
    match op.phase {
        OperationPhase::Terminating => format!("terminating the sync of {revision}{wave}"),
        _ => format!("syncing {revision}{wave}"),
    }
}

/// `2 of 5 resources out of sync (1 requires pruning)`.
fn out_of_sync_message(status: &ApplicationStatus) -> String {
    let total = status.resources.len();
    let out = status
        .resources
        .iter()
        .filter(|r| r.status == SyncStatus::OutOfSync || r.requires_pruning)
        .count();
    let prune = status
        .resources
        .iter()
        .filter(|r| r.requires_pruning)
        .count();
    let mut message = format!("{out} of {total} resources out of sync");
    if prune > 0 {
        let verb = if prune == 1 { "requires" } else { "require" };
        message.push_str(&format!(" ({prune} {verb} pruning)"));
    }
    message
}
