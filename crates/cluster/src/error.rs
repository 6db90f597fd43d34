//! Errors of cluster access. Each variant names the action that failed and the object it
//! failed on; API errors keep the API server's message (e.g. which field is immutable) and the
//! `kube::Error` itself, so that [`ClusterError::is_retryable`] and [`ClusterError::reason`] can
//! classify it by its HTTP status ([`classify_status`], one table for the whole crate).

use std::fmt;

use capstan_api::Reason;
use capstan_core::inventory::InventoryError;
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
        /// Whether it was read or written.
        action: InventoryAction,
        /// The inventory's name.
        name: String,
        /// The failure.
        #[source]
        source: InventoryFailure,
    },
    /// Pruning was refused before anything was deleted.
    #[error("prune refused")]
    PruneRefused(#[source] InventoryError),
}

impl ClusterError {
    /// Whether trying again soon may succeed (a 409, 429, 5xx, timeout or lost connection), as
    /// opposed to a failure that stays until something changes — RBAC, the manifests, the
    /// cluster's kinds (403, 422, an invalid or unknown object). Not retryable means no fast
    /// backoff; the next refresh, spec change or Secret change still tries again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClusterError::Discovery(source)
            | ClusterError::Read { source, .. }
            | ClusterError::DryRun { source, .. } => classify(source).is_retryable(),
            ClusterError::Inventory { source, .. } => source.is_retryable(),
            ClusterError::UnknownKind { .. }
            | ClusterError::Invalid(_)
            | ClusterError::PruneRefused(_) => false,
        }
    }

    /// Why the compare or sync stopped, for conditions, Events and metric labels.
    pub fn reason(&self) -> Reason {
        match self {
            ClusterError::Discovery(source) => classify(source).reason(Reason::DiscoveryFailed),
            ClusterError::UnknownKind { .. } => Reason::UnknownKind,
            ClusterError::Invalid(_) => Reason::InvalidManifest,
            ClusterError::Read { source, .. } => classify(source).reason(Reason::ReadFailed),
            ClusterError::DryRun { source, .. } => classify(source).reason(Reason::DryRunFailed),
            ClusterError::Inventory { action, source, .. } => source.reason(action.reason()),
            ClusterError::PruneRefused(InventoryError::EmptyDesiredSet(_)) => {
                Reason::PruneRefusedEmptySet
            }
            ClusterError::PruneRefused(_) => Reason::InventoryReadFailed,
        }
    }
}

/// Which way the inventory was being accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryAction {
    /// Loading the stored inventory.
    Read,
    /// Storing the next inventory.
    Write,
}

impl InventoryAction {
    /// The reason a failure of this action is reported with, unless the API server's answer
    /// says more.
    fn reason(self) -> Reason {
        match self {
            InventoryAction::Read => Reason::InventoryReadFailed,
            InventoryAction::Write => Reason::InventoryWriteFailed,
        }
    }
}

impl fmt::Display for InventoryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InventoryAction::Read => "read",
            InventoryAction::Write => "write",
        })
    }
}

/// Why the inventory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum InventoryFailure {
    /// The API server refused or failed the request.
    #[error("{}", api_message(.0))]
    Api(#[source] kube::Error),
    /// What is stored is not an inventory.
    #[error(transparent)]
    Malformed(#[from] InventoryError),
}

impl InventoryFailure {
    fn is_retryable(&self) -> bool {
        match self {
            InventoryFailure::Api(err) => classify(err).is_retryable(),
            InventoryFailure::Malformed(_) => false,
        }
    }

    fn reason(&self, step: Reason) -> Reason {
        match self {
            InventoryFailure::Api(err) => classify(err).reason(step),
            InventoryFailure::Malformed(_) => step,
        }
    }
}

/// What an API failure says about trying again: the classes every cluster error is sorted into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFailure {
    /// The request ran out of time (408, 504, a transport timeout). Retryable.
    Timeout,
    /// The API server is overloaded or failing (429, 500, 502, 503), or did not answer (the
    /// connection failed or broke). Retryable.
    Unavailable,
    /// The object changed in between (409). Retryable: read again and retry.
    Conflict,
    /// Capstan's own credentials were not accepted (401, or they could not be loaded).
    /// Retryable: the client reloads rotated tokens.
    Unauthorized,
    /// RBAC forbids the request (403). Not retryable: someone must change RBAC first.
    Forbidden,
    /// The request itself was refused (400, 404, 405, 410, 422, 501, …) or could not be made:
    /// the same request fails again. Not retryable.
    Rejected,
}

impl ApiFailure {
    /// Whether trying the same request again soon may succeed.
    pub fn is_retryable(self) -> bool {
        !matches!(self, ApiFailure::Forbidden | ApiFailure::Rejected)
    }

    /// The reason to report: the class when it says what to do about it, otherwise `step`, the
    /// reason of the step that failed (e.g. [`Reason::ApplyFailed`]).
    pub fn reason(self, step: Reason) -> Reason {
        match self {
            ApiFailure::Timeout => Reason::Timeout,
            ApiFailure::Unavailable => Reason::ApiUnavailable,
            ApiFailure::Conflict => Reason::Conflict,
            ApiFailure::Unauthorized => Reason::Unauthorized,
            ApiFailure::Forbidden => Reason::Forbidden,
            ApiFailure::Rejected => step,
        }
    }
}

/// How an HTTP status code of the API server is classified. 501 (not implemented) and the
/// other 5xx beyond 504 describe what the server can do, not a passing state, so they are
/// rejections.
pub fn classify_status(code: u16) -> ApiFailure {
    match code {
        408 | 504 => ApiFailure::Timeout,
        429 | 500 | 502 | 503 => ApiFailure::Unavailable,
        409 => ApiFailure::Conflict,
        401 => ApiFailure::Unauthorized,
        403 => ApiFailure::Forbidden,
        _ => ApiFailure::Rejected,
    }
}

/// How a kube error is classified: by the API server's status code when it answered; a
/// transport failure (no answer, a broken stream) is a timeout or unavailability; an error in
/// making the request (configuration, serialization, a bad request) is a rejection.
pub fn classify(err: &kube::Error) -> ApiFailure {
    match err {
        kube::Error::Api(status) => classify_status(status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_)
            if timed_out(err) =>
        {
            ApiFailure::Timeout
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            ApiFailure::Unavailable
        }
        kube::Error::Auth(_) => ApiFailure::Unauthorized,
        _ => ApiFailure::Rejected,
    }
}

/// Whether an I/O timeout is somewhere in `err`'s chain of sources.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = err.source();
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Box<ObjectKey> {
        Box::new(ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "prod".into(),
            name: "web".into(),
        })
    }

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("refused", "").with_code(code),
        ))
    }

    #[test]
    fn status_codes_are_classified_by_what_a_retry_can_change() {
        use ApiFailure::*;
        let cases = [
            (400, Rejected, false),
            (401, Unauthorized, true),
            (403, Forbidden, false),
            (404, Rejected, false),
            (405, Rejected, false),
            (408, Timeout, true),
            (409, Conflict, true),
            (410, Rejected, false),
            (422, Rejected, false),
            (429, Unavailable, true),
            (500, Unavailable, true),
            (501, Rejected, false),
            (502, Unavailable, true),
            (503, Unavailable, true),
            (504, Timeout, true),
            (505, Rejected, false),
            (0, Rejected, false),
        ];
        for (code, class, retryable) in cases {
            assert_eq!(classify_status(code), class, "{code}");
            assert_eq!(class.is_retryable(), retryable, "{code}");
            assert_eq!(classify(&api_error(code)), class, "{code}");
        }
    }

    #[test]
    fn a_rejection_keeps_the_reason_of_the_step_and_other_classes_name_themselves() {
        let step = Reason::ApplyFailed;
        assert_eq!(classify_status(422).reason(step), Reason::ApplyFailed);
        assert_eq!(classify_status(403).reason(step), Reason::Forbidden);
        assert_eq!(classify_status(409).reason(step), Reason::Conflict);
        assert_eq!(classify_status(503).reason(step), Reason::ApiUnavailable);
        assert_eq!(classify_status(504).reason(step), Reason::Timeout);
        assert_eq!(classify_status(401).reason(step), Reason::Unauthorized);
    }

    #[test]
    fn transport_failures_are_retryable_and_timeouts_are_named() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            classify(&kube::Error::ReadEvents(reset)),
            ApiFailure::Unavailable
        );
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(
            classify(&kube::Error::ReadEvents(timeout)),
            ApiFailure::Timeout
        );
        let wrapped: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "deadline elapsed",
        ));
        assert_eq!(
            classify(&kube::Error::Service(wrapped)),
            ApiFailure::Timeout
        );
        let bad = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(
            classify(&kube::Error::SerdeError(bad)),
            ApiFailure::Rejected
        );
    }

    #[test]
    fn cluster_errors_say_whether_to_retry_and_why() {
        let cases: Vec<(ClusterError, bool, Reason)> = vec![
            (
                ClusterError::Discovery(api_error(503)),
                true,
                Reason::ApiUnavailable,
            ),
            (
                ClusterError::Discovery(api_error(404)),
                false,
                Reason::DiscoveryFailed,
            ),
            (
                ClusterError::UnknownKind {
                    key: key(),
                    api_version: "example.com/v1".into(),
                    kind: "Widget".into(),
                },
                false,
                Reason::UnknownKind,
            ),
            (
                ClusterError::Invalid("declared twice".into()),
                false,
                Reason::InvalidManifest,
            ),
            (
                ClusterError::Read {
                    what: "objects".into(),
                    source: api_error(403),
                },
                false,
                Reason::Forbidden,
            ),
            (
                ClusterError::Read {
                    what: "objects".into(),
                    source: api_error(500),
                },
                true,
                Reason::ApiUnavailable,
            ),
            (
                ClusterError::DryRun {
                    key: key(),
                    source: api_error(422),
                },
                false,
                Reason::DryRunFailed,
            ),
            (
                ClusterError::DryRun {
                    key: key(),
                    source: api_error(409),
                },
                true,
                Reason::Conflict,
            ),
            (
                ClusterError::Inventory {
                    action: InventoryAction::Write,
                    name: "prod/capstan-inventory.prod.web".into(),
                    source: InventoryFailure::Api(api_error(429)),
                },
                true,
                Reason::ApiUnavailable,
            ),
            (
                ClusterError::Inventory {
                    action: InventoryAction::Write,
                    name: "prod/capstan-inventory.prod.web".into(),
                    source: InventoryFailure::Api(api_error(422)),
                },
                false,
                Reason::InventoryWriteFailed,
            ),
            (
                ClusterError::Inventory {
                    action: InventoryAction::Read,
                    name: "prod/capstan-inventory.prod.web".into(),
                    source: InventoryError::Malformed("not a list".into()).into(),
                },
                false,
                Reason::InventoryReadFailed,
            ),
            (
                ClusterError::PruneRefused(InventoryError::EmptyDesiredSet(3)),
                false,
                Reason::PruneRefusedEmptySet,
            ),
        ];
        for (err, retryable, reason) in cases {
            assert_eq!(err.is_retryable(), retryable, "{err}");
            assert_eq!(err.reason(), reason, "{err}");
        }
    }

    #[test]
    fn delete_errors_say_whether_to_retry_and_why() {
        use crate::delete::DeleteError;
        let cases = [
            (
                DeleteError::NotOwned {
                    key: key(),
                    app: "prod/web".into(),
                    why: "none".into(),
                },
                false,
                Reason::NotOwned,
            ),
            (
                DeleteError::Api {
                    key: key(),
                    source: api_error(403),
                },
                false,
                Reason::Forbidden,
            ),
            (
                DeleteError::Api {
                    key: key(),
                    source: api_error(422),
                },
                false,
                Reason::PruneFailed,
            ),
            (
                DeleteError::Api {
                    key: key(),
                    source: api_error(503),
                },
                true,
                Reason::ApiUnavailable,
            ),
            (DeleteError::Contended(key()), true, Reason::Conflict),
        ];
        for (err, retryable, reason) in cases {
            assert_eq!(err.is_retryable(), retryable, "{err}");
            assert_eq!(err.reason(), reason, "{err}");
        }
    }
}
