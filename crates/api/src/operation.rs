//! The state of a sync operation, as an Application's status will carry it: what was asked, the
//! phase, where the sync is (wave and kind step), and what happened to each object. The shape
//! follows Argo CD's `operationState` (phase, message, `syncResult.resources`, `retryCount`,
//! `hookPhase`), so its users read it without a guide; differences are named where they occur.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::named_enum;
use crate::{InventoryEntry, Reason};

/// One sync operation: what was asked, how far it got, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// What was asked.
    pub operation: Operation,
    /// Where the operation is: running, or how it ended.
    pub phase: OperationPhase,
    /// Why the operation stopped or failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// A human-readable summary (the first failure, say); may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the operation started.
    pub started_at: Time,
    /// When the operation ended; absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The sync wave being applied (or where the sync stopped); absent before the first wave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<i64>,
    /// The kind step being applied inside `wave` (or where the sync stopped): the kind rank of
    /// `capstan_core::plan::kind_rank`, 0 for Namespaces up to 12 for admission webhooks
    /// (`docs/sync.md` lists them); absent outside a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u8>,
    /// Who started the operation: a user, or the controller itself (automated sync, self-heal,
    /// retry). Kept while the operation runs so that its history entry names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<crate::application::InitiatedBy>,
    /// How many times the operation was retried after a retryable failure.
    #[serde(default)]
    pub retry_count: u32,
    /// The revision synced and the result of each object; absent until the revision is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncResult>,
}

/// What a sync operation was asked to do — the few settings that change its result, so that a
/// status explains itself. The Application's spec has the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// The revision asked for: a branch, tag or commit, as the spec or a manual sync named it.
    pub revision: String,
    /// Whether objects that left the desired set are deleted.
    #[serde(default)]
    pub prune: bool,
    /// Whether the sync only reported what it would do.
    #[serde(default)]
    pub dry_run: bool,
    /// The application-wide sync options in effect, as written in the spec
    /// (`CreateNamespace=true`, `PruneLast=true`, …); objects' annotations may override them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
}

named_enum! {
    /// The phase of an operation, with Argo CD's names and meanings.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OperationPhase {
        /// The operation is in progress.
        Running,
        /// The operation is being stopped (cancelled); it ends Failed.
        Terminating,
        /// The operation ran and something failed: an object could not be applied or pruned, or a
        /// wave did not become healthy.
        Failed,
        /// The operation could not be carried out: the source could not be fetched or rendered,
        /// or the cluster could not be read, before any object was applied.
        Error,
        /// Every object was applied (and pruned, when asked) and every wave became healthy.
        Succeeded,
    }
}

impl OperationPhase {
    /// Whether the operation has ended (`Failed`, `Error` or `Succeeded`).
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            OperationPhase::Failed | OperationPhase::Error | OperationPhase::Succeeded
        )
    }
}

/// The result of a sync: the revision it applied and what happened to each object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    /// The commit synced (full object name).
    pub revision: String,
    /// One result per object, in the order the objects were handled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceResult>,
}

/// What a sync did to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// The object, with the version it was applied with; its fields (`group`, `version`,
    /// `kind`, `namespace`, `name`) sit beside the result's, as in Argo CD.
    #[serde(flatten)]
    pub object: InventoryEntry,
    /// How it ended for this object.
    pub status: ResultStatus,
    /// What the sync did to the object; absent when it did nothing (a failure, a skip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ResourceAction>,
    /// Why the object failed or was left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Details: the API server's words for a failure, what kept an object; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Reserved for sync hooks (PreSync, Sync, PostSync, SyncFail Jobs): the phase of the hook
    /// this object is, as in Argo CD's `hookPhase`. Always absent until hooks exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<OperationPhase>,
}

named_enum! {
    /// How a sync ended for one object. Argo CD's result codes, plus `PruneRequired`, which Argo
    /// CD reports as `PruneSkipped` with the message "ignored (requires pruning)".
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ResultStatus {
        /// The object was applied (created, configured, recreated) or found unchanged.
        Synced,
        /// Applying or pruning the object failed (Argo CD's `SyncFailed`, for prunes too).
        SyncFailed,
        /// The object left the desired set and was deleted.
        Pruned,
        /// The object left the desired set and was kept on purpose: `Prune=false`, its kind is
        /// not served, or it is not owned by the application.
        PruneSkipped,
        /// The object left the desired set and this sync does not prune; it stays in the
        /// inventory until a sync prunes it.
        PruneRequired,
    }
}

named_enum! {
    /// What a sync did to one object.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ResourceAction {
        /// The object did not exist and was created.
        Created,
        /// The object existed and was changed.
        Configured,
        /// The object existed and the apply changed nothing (or it was skipped as in sync).
        Unchanged,
        /// The object was deleted and created again (`Force` or `Replace` over an immutable
        /// field).
        Recreated,
        /// The object was deleted.
        Pruned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running() -> OperationState {
        OperationState {
            operation: Operation {
                revision: "main".into(),
                prune: true,
                dry_run: false,
                sync_options: vec!["CreateNamespace=true".into()],
            },
            phase: OperationPhase::Running,
            reason: None,
            message: String::new(),
            started_at: Time("2026-01-02T03:04:05Z".parse().unwrap()),
            finished_at: None,
            wave: Some(-1),
            step: Some(2),
            retry_count: 0,
            initiated_by: Some(crate::application::InitiatedBy {
                username: "jane".into(),
                automated: false,
            }),
            sync_result: Some(SyncResult {
                revision: "0123456789abcdef0123456789abcdef01234567".into(),
                resources: vec![ResourceResult {
                    object: InventoryEntry {
                        group: "apps".into(),
                        version: "v1".into(),
                        kind: "Deployment".into(),
                        namespace: "prod".into(),
                        name: "web".into(),
                        applied: None,
                    },
                    status: ResultStatus::SyncFailed,
                    action: None,
                    reason: Some(Reason::ImmutableField),
                    message: "field is immutable".into(),
                    hook_phase: None,
                }],
            }),
        }
    }

    #[test]
    fn an_operation_state_is_stored_in_camel_case_with_names_for_enums() {
        let state = running();
        let stored = serde_json::to_value(&state).unwrap();
        assert_eq!(
            stored,
            json!({
                "operation": {"revision": "main", "prune": true, "dryRun": false,
                              "syncOptions": ["CreateNamespace=true"]},
                "phase": "Running",
                "startedAt": "2026-01-02T03:04:05Z",
                "wave": -1,
                "step": 2,
                "retryCount": 0,
                "initiatedBy": {"username": "jane"},
                "syncResult": {
                    "revision": "0123456789abcdef0123456789abcdef01234567",
                    "resources": [{"group": "apps", "version": "v1", "kind": "Deployment",
                                   "namespace": "prod", "name": "web", "status": "SyncFailed",
                                   "reason": "ImmutableField", "message": "field is immutable"}]
                }
            })
        );
        let back: OperationState = serde_json::from_value(stored).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn a_minimal_stored_state_reads_with_defaults() {
        let state: OperationState = serde_json::from_value(json!({
            "operation": {"revision": "v1.2.3"},
            "phase": "Succeeded",
            "startedAt": "2026-01-02T03:04:05Z",
            "finishedAt": "2026-01-02T03:05:00Z",
        }))
        .unwrap();
        assert!(state.phase.is_completed());
        assert!(!state.operation.prune && state.sync_result.is_none() && state.retry_count == 0);
    }

    #[test]
    fn phases_and_statuses_round_trip_their_names() {
        for phase in OperationPhase::ALL {
            assert_eq!(OperationPhase::parse(phase.as_str()), Some(phase));
            assert_eq!(serde_json::to_value(phase).unwrap(), json!(phase.as_str()));
        }
        for status in ResultStatus::ALL {
            assert_eq!(ResultStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
        for action in ResourceAction::ALL {
            assert_eq!(ResourceAction::parse(action.as_str()), Some(action));
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                json!(action.as_str())
            );
        }
        let running = [OperationPhase::Running, OperationPhase::Terminating];
        assert!(running.iter().all(|p| !p.is_completed()));
    }

    #[test]
    fn the_schema_names_every_field_and_phase() {
        let schema = serde_json::to_value(schemars::schema_for!(OperationState)).unwrap();
        let text = schema.to_string();
        for name in [
            "startedAt",
            "retryCount",
            "syncResult",
            "hookPhase",
            "Terminating",
            "namespace",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }
}
