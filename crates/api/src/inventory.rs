//! The structured inventory entry: one object an Application applied, with the version it was
//! applied with. Stored as data (JSON in the CLI's inventory ConfigMap, and in Application
//! status once the controller keeps it there), so every valid name round-trips — RBAC names with
//! `_` or `:`, say — where a joined string would need a separator no name may contain.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One object of an application's inventory.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct InventoryEntry {
    /// The API group; empty (and left out when stored) for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The version the object was applied with, e.g. `v1`.
    pub version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The namespace; empty (and left out when stored) for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The name.
    pub name: String,
    /// What was applied last, when known: lets a compare or a sync skip the object while
    /// neither git nor the cluster changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedFingerprints>,
}

/// Fingerprints of the last apply of one object (SHA-256, hex).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct AppliedFingerprints {
    /// Of the desired body that was sent.
    pub desired: String,
    /// Of the live object as the API server answered, without `status` and server-maintained
    /// metadata.
    pub live: String,
}
