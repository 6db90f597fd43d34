//! An Application's status, computed: what one reconcile found and did ([`ReconcileOutcome`]),
//! the status before it, and the time, in; the whole new [`ApplicationStatus`] out
//! ([`compute_status`]). The reconcile driver writes the result with one status patch, and none
//! when it equals the previous status. The kstatus conditions are in `conditions.rs`.

mod conditions;
#[cfg(test)]
mod tests;

use capstan_api::application::{
    ApplicationReference, ApplicationStatus, HISTORY_LIMIT, HealthSummary, InitiatedBy,
    ResourceStatus, RevisionHistory, SyncSummary,
};
use capstan_api::{
    HealthStatus, InventoryEntry, OperationPhase, OperationState, Reason, SyncStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What one reconcile of an Application found and did: the input of [`compute_status`]. Pure
/// data, filled in by the reconcile driver as its stages run; a stage that did not run leaves its
/// field empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileOutcome {
    /// The `metadata.generation` of the spec this reconcile acted on; becomes
    /// `observedGeneration`, and every condition's.
    pub generation: Option<i64>,
    /// The commit the source resolved to; `None` when the fetch did not get that far.
    pub commit: Option<CommitSummary>,
    /// Every object of the Application with its sync and health state, when a compare ran
    /// (desired objects, and applied ones that left the desired set); `None` when no compare ran
    /// (suspended, waiting for a dependency, or a failure before it).
    pub objects: Option<Vec<ObjectState>>,
    /// The sync operation this reconcile started, continued or finished; `None` when it touched
    /// none (the previous `operationState` is kept).
    pub operation: Option<OperationState>,
    /// Who asked for `operation` (a user, or the controller itself): recorded in `history` when
    /// the operation succeeds.
    pub initiated_by: Option<InitiatedBy>,
    /// Why the reconcile could not finish (fetch, render, compare, a failed sync…); `None` when
    /// it did.
    pub failure: Option<Failure>,
    /// The Applications of `spec.dependsOn` that are not Ready yet.
    pub waiting_for: Vec<ApplicationReference>,
    /// Whether `spec.suspend` is true.
    pub suspended: bool,
    /// The inventory to keep; `None` keeps the previous one.
    pub inventory: Option<Vec<InventoryEntry>>,
}

/// The commit a source resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitSummary {
    /// The full object name.
    pub sha: String,
    /// The first line of its message.
    pub subject: String,
}

/// The state of one object of the Application, as a compare found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    /// The object (its `applied` fingerprints are not used).
    pub object: InventoryEntry,
    /// Whether the live object matches the desired one.
    pub sync: SyncStatus,
    /// Its health; `None` for kinds that have none. The driver says `Missing` for an object that
    /// does not exist (of any kind): [`crate::health::assess`] never does.
    pub health: Option<HealthStatus>,
    /// Why, when not healthy (the message of [`crate::health::Health`]); may be empty.
    pub health_message: String,
    /// The object left the desired set and was not pruned.
    pub requires_pruning: bool,
}

/// Why a reconcile could not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The bounded reason: the `Ready` condition's reason.
    pub reason: Reason,
    /// Details for humans: the condition's message.
    pub message: String,
    /// Whether retrying can help: `Reconciling` when it can, `Stalled` when it cannot (or the
    /// retries are exhausted).
    pub retryable: bool,
}

/// The status an Application has after a reconcile: a pure function of the status before it,
/// what the reconcile found and did, and the time.
///
/// - `observedGeneration`: `outcome.generation`; every condition's `observedGeneration` too.
/// - `sync`: when a compare ran, `OutOfSync` if any object is out of sync or requires pruning,
///   else `Synced`, at `outcome.commit`. When a failure stopped the reconcile before a compare,
///   `Unknown` (as Argo CD says), at the commit that failed when the source resolved and else at
///   the previous revision. When no compare ran and nothing failed (suspended, waiting for a
///   dependency), the previous `sync`.
/// - `health`: when a compare ran, the worst ([`crate::health::worst`]) of the objects' health,
///   leaving out objects without health and objects that require pruning (they are leaving);
///   `Healthy` for none. The message names the first (in `resources` order) worst object and its
///   message. When no compare ran, the previous `health`.
/// - `resources`: one per object, sorted by group, version, kind, namespace and name; the
///   previous ones when no compare ran.
/// - `conditions`: see `conditions.rs` (and `docs/application.md`): `Ready` always,
///   `Reconciling` or `Stalled` only when true and never both; a condition's
///   `lastTransitionTime` is `now` when its status changed (or it appeared), and the previous
///   time otherwise, whatever its reason or message.
/// - `operationState`: `outcome.operation`, else the previous one.
/// - `history`: when the operation state has `Succeeded`, is no dry run, and no entry has its
///   revision and start time, one entry is appended: `id` one past the last (0 for the first),
///   the revision synced (`syncResult.revision`, else the commit, else the revision asked),
///   `deployedAt` its finish (or `now`), `deployStartedAt` its start, `initiatedBy`. The newest
///   [`HISTORY_LIMIT`] entries are kept.
/// - `waitingFor`: `outcome.waiting_for`; `inventory`: `outcome.inventory`, else the previous one.
///
/// Deterministic: equal inputs give equal statuses, and computing again with the result as
/// `previous` and the same outcome gives the same status — so the driver skips the patch when
/// the result equals the previous status.
pub fn compute_status(
    previous: Option<&ApplicationStatus>,
    outcome: &ReconcileOutcome,
    now: &Time,
) -> ApplicationStatus {
    let resources = match &outcome.objects {
        Some(objects) => resources(objects),
        None => previous.map(|p| p.resources.clone()).unwrap_or_default(),
    };
    let sync = sync_summary(previous, outcome);
    let health = match &outcome.objects {
        Some(objects) => Some(health_summary(objects)),
        None => previous.and_then(|p| p.health.clone()),
    };
    let operation_state = outcome
        .operation
        .clone()
        .or_else(|| previous.and_then(|p| p.operation_state.clone()));
    let history = history(previous, outcome, operation_state.as_ref(), now);
    let mut status = ApplicationStatus {
        observed_generation: outcome.generation,
        conditions: Vec::new(),
        sync,
        health,
        waiting_for: outcome.waiting_for.clone(),
        resources,
        operation_state,
        history,
        inventory: match &outcome.inventory {
            Some(entries) => stored_order(entries.clone()),
            None => previous.map(|p| p.inventory.clone()).unwrap_or_default(),
        },
    };
    status.conditions = conditions::conditions(previous, outcome, &status, now);
    status
}

/// The inventory sorted the way it is stored (grouped by group, version, kind and namespace),
/// so that it reads back from the API server exactly as computed and an unchanged inventory is
/// never written again.
fn stored_order(mut entries: Vec<InventoryEntry>) -> Vec<InventoryEntry> {
    let key = |e: &InventoryEntry| {
        let fields = [&e.group, &e.version, &e.kind, &e.namespace, &e.name];
        fields.map(String::clone)
    };
    entries.sort_by_cached_key(key);
    entries
}

/// The resources of a compare, sorted the way they are stored (grouped by group, version, kind
/// and namespace).
fn resources(objects: &[ObjectState]) -> Vec<ResourceStatus> {
    let mut resources: Vec<ResourceStatus> = objects
        .iter()
        .map(|state| ResourceStatus {
            group: state.object.group.clone(),
            version: state.object.version.clone(),
            kind: state.object.kind.clone(),
            namespace: state.object.namespace.clone(),
            name: state.object.name.clone(),
            status: state.sync,
            health: state.health,
            requires_pruning: state.requires_pruning,
        })
        .collect();
    resources.sort_by(|a, b| resource_key(a).cmp(&resource_key(b)));
    resources
}

fn resource_key(r: &ResourceStatus) -> (&str, &str, &str, &str, &str) {
    (&r.group, &r.version, &r.kind, &r.namespace, &r.name)
}

fn object_key(o: &ObjectState) -> (&str, &str, &str, &str, &str) {
    let e = &o.object;
    (&e.group, &e.version, &e.kind, &e.namespace, &e.name)
}

fn sync_summary(
    previous: Option<&ApplicationStatus>,
    outcome: &ReconcileOutcome,
) -> Option<SyncSummary> {
    let previous = previous.and_then(|p| p.sync.as_ref());
    if let Some(objects) = &outcome.objects {
        let out_of_sync = objects
            .iter()
            .any(|o| o.sync == SyncStatus::OutOfSync || o.requires_pruning);
        let status = if out_of_sync {
            SyncStatus::OutOfSync
        } else {
            SyncStatus::Synced
        };
        return Some(SyncSummary {
            status,
            revision: outcome.commit.as_ref().map(|c| c.sha.clone()),
            subject: outcome.commit.as_ref().map(|c| c.subject.clone()),
        });
    }
    if outcome.failure.is_none() {
        return previous.cloned();
    }
    let (revision, subject) = match (&outcome.commit, previous) {
        (Some(commit), _) => (Some(commit.sha.clone()), Some(commit.subject.clone())),
        (None, Some(previous)) => (previous.revision.clone(), previous.subject.clone()),
        (None, None) => (None, None),
    };
    Some(SyncSummary {
        status: SyncStatus::Unknown,
        revision,
        subject,
    })
}

/// The worst health of the objects that have one and stay, with the first worst one's message.
fn health_summary(objects: &[ObjectState]) -> HealthSummary {
    let mut counted: Vec<&ObjectState> = objects
        .iter()
        .filter(|o| o.health.is_some() && !o.requires_pruning)
        .collect();
    counted.sort_by(|a, b| object_key(a).cmp(&object_key(b)));
    let status = crate::health::worst(counted.iter().filter_map(|o| o.health));
    let message = if status == HealthStatus::Healthy {
        String::new()
    } else {
        counted
            .iter()
            .find(|o| o.health == Some(status))
            .map(|o| object_message(o, status))
            .unwrap_or_default()
    };
    HealthSummary { status, message }
}

/// `Deployment web/web: 1 of 3 replicas updated`, or `… is Degraded` without a message.
fn object_message(o: &ObjectState, status: HealthStatus) -> String {
    let e = &o.object;
    let name = if e.namespace.is_empty() {
        format!("{} {}", e.kind, e.name)
    } else {
        format!("{} {}/{}", e.kind, e.namespace, e.name)
    };
    if o.health_message.is_empty() {
        format!("{name} is {status}")
    } else {
        format!("{name}: {}", o.health_message)
    }
}

/// The previous history, with the operation appended when it just succeeded, capped.
fn history(
    previous: Option<&ApplicationStatus>,
    outcome: &ReconcileOutcome,
    operation: Option<&OperationState>,
    now: &Time,
) -> Vec<RevisionHistory> {
    let mut history = previous.map(|p| p.history.clone()).unwrap_or_default();
    if let Some(op) = operation.filter(|op| op.phase == OperationPhase::Succeeded) {
        let revision = op
            .sync_result
            .as_ref()
            .map(|r| r.revision.clone())
            .or_else(|| outcome.commit.as_ref().map(|c| c.sha.clone()))
            .unwrap_or_else(|| op.operation.revision.clone());
        let recorded = history.iter().any(|h| {
            h.revision == revision && h.deploy_started_at.as_ref() == Some(&op.started_at)
        });
        if !op.operation.dry_run && !recorded {
            history.push(RevisionHistory {
                id: history.last().map_or(0, |h| h.id + 1),
                revision,
                deployed_at: op.finished_at.clone().unwrap_or_else(|| now.clone()),
                deploy_started_at: Some(op.started_at.clone()),
                initiated_by: outcome.initiated_by.clone(),
            });
        }
    }
    let excess = history.len().saturating_sub(HISTORY_LIMIT);
    history.drain(..excess);
    history
}

/// The first seven characters of a commit's full name; other revisions (a branch) as they are.
fn short_revision(revision: &str) -> &str {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        revision.get(..7).unwrap_or(revision)
    } else {
        revision
    }
}
