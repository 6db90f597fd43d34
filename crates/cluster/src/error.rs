//! Errors of cluster access. Each variant names the action that failed and the object it
//! failed on; API errors keep the API server's message (e.g. which field is immutable).

use capstan_core::object::ObjectKey;

/// A failed cluster operation.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// API discovery failed.
    #[error("failed to discover the cluster's API resources")]
    Discovery(#[source] kube::Error),
    /// The object's apiVersion and kind are not served by the cluster (and no CRD in the
    /// desired set declares them).
    #[error("{key}: {api_version} {kind} is not served by the cluster")]
    UnknownKind {
        /// The object.
        key: Box<ObjectKey>,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// A desired object is invalid (no name, twice in the set, bad annotation).
    #[error("{0}")]
    Invalid(String),
    /// Reading live objects failed.
    #[error("failed to read {what}")]
    Read {
        /// What was read.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The server-side-apply dry-run of an object failed.
    #[error("{key}: server-side dry-run failed: {}", api_message(source))]
    DryRun {
        /// The object.
        key: Box<ObjectKey>,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Reading or writing the inventory failed.
    #[error("failed to {action} the inventory {name}")]
    Inventory {
        /// `read` or `write`.
        action: &'static str,
        /// The inventory's name.
        name: String,
        /// The failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Pruning was refused before anything was deleted.
    #[error("prune refused")]
    PruneRefused(#[source] capstan_core::inventory::InventoryError),
}

/// The API server's own message for an API error, or the error's text otherwise.
pub fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

/// Whether `err` is the API server's "not found".
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_not_found())
}
