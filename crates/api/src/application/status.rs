//! An Application's `status`, written only by the controller: kstatus conditions, the sync and
//! health summary, each resource's state, the last operation, the history of syncs and the
//! inventory. `resources` and `inventory` are flat lists in Rust and grouped lists when stored
//! (see [`compact`](super::compact)), which keeps a 5,000-object status under 1 MiB.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compact::{InventoryGroup, ResourceGroup, grouped_inventory, grouped_resources};
use super::request::InitiatedBy;
use super::spec::ApplicationReference;
use crate::names::named_enum;
use crate::{HealthStatus, InventoryEntry, OperationState, Reason, SyncStatus};

/// How many entries `status.history` keeps (the newest).
pub const HISTORY_LIMIT: usize = 10;

/// What the controller last saw of an Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// The `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready` always; `Reconciling` or `Stalled` only while true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Whether the cluster matches the source, at which revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncSummary>,
    /// The health of the Application: the worst of its resources'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSummary>,
    /// The Applications of `spec.dependsOn` that are not Ready yet; while any is listed, this
    /// Application does not sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<ApplicationReference>,
    /// Every object of the Application — desired, or applied and still to be pruned — with its
    /// sync and health status. Stored grouped by group, version, kind and namespace.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "grouped_resources"
    )]
    #[schemars(with = "Vec<ResourceGroup>")]
    pub resources: Vec<ResourceStatus>,
    /// The last (or the running) operation, and how it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// The last syncs that succeeded, oldest first, at most ten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
    /// The objects Capstan applied for this Application and owns, with fingerprints of their
    /// last apply: what a prune may delete. Kept by the controller; stored compactly, grouped by
    /// group, version, kind and namespace.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "grouped_inventory"
    )]
    #[schemars(with = "Vec<InventoryGroup>")]
    pub inventory: Vec<InventoryEntry>,
}

impl ApplicationStatus {
    /// The condition of type `kind`, when present.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == kind)
    }
}

named_enum! {
    /// The kstatus condition types an Application reports.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ConditionType {
        /// Always present: `True` when the last reconcile of the current generation synced (or,
        /// without automated sync, found the cluster in sync) and every resource is healthy.
        Ready,
        /// Present only while true: work is under way (a sync, a rollout, waiting for
        /// dependencies).
        Reconciling,
        /// Present only while true: the Application cannot make progress without a change (a
        /// failure that retrying will not fix, or retries exhausted).
        Stalled,
    }
}

named_enum! {
    /// The status of a condition.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ConditionStatus {
        /// The condition holds.
        True,
        /// The condition does not hold.
        False,
        /// Whether the condition holds is not known.
        Unknown,
    }
}

/// One kstatus condition, shaped like `metav1.Condition` (so `kubectl wait
/// --for=condition=Ready` works) with its type and reason from bounded sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Why, as one PascalCase name (see the reasons in the Application documentation).
    pub reason: Reason,
    /// Details for humans; may be empty.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// The `metadata.generation` this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Whether the cluster matches the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSummary {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: SyncStatus,
    /// The commit compared with the cluster (full object name); absent when none was fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The first line of that commit's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// The health of the Application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthSummary {
    /// `Healthy`, `Suspended`, `Progressing`, `Missing`, `Degraded` or `Unknown`.
    pub status: HealthStatus,
    /// Why, when not healthy (the worst resource's message, say).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The state of one object of the Application.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceStatus {
    /// The API group; empty for the core group.
    pub group: String,
    /// The API version, e.g. `v1`.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// The name.
    pub name: String,
    /// Whether the live object matches the desired one.
    pub status: SyncStatus,
    /// Its health; absent for kinds that have none (ConfigMaps, say).
    pub health: Option<HealthStatus>,
    /// The object left the desired set and was not pruned (pruning is off, or the sync has not
    /// run yet).
    pub requires_pruning: bool,
}

/// One sync that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    /// A number that grows by one with each entry.
    pub id: i64,
    /// The commit synced (full object name).
    pub revision: String,
    /// When the sync finished.
    pub deployed_at: Time,
    /// When the sync started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<Time>,
    /// Who asked for the sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<InitiatedBy>,
}
