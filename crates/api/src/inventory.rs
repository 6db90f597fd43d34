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
}
