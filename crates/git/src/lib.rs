//! Git sources over HTTPS and SSH with git2 behind an async API: the shared fetch cache, revision
//! resolution, reading trees straight from the object database, and commit-and-push write-back.
//!
//! Expected flow: one [`RepoCache`] per process → [`RepoCache::resolve`] (a cheap remote-ref check
//! with the caller's credentials, a fetch only when the wanted ref moved) → [`RepoCache::tree`] with
//! the [`Access`] proof that check returned, to read files of that commit →
//! [`RepoCache::write_back`] for the image updater.
//! Guarantees: every git2 call runs in `spawn_blocking`; requests for one repository are
//! serialized and coalesced, other repositories are never blocked by it; nothing cached is served
//! to a caller whose credentials the remote has not accepted for that repository within the
//! authorization bound (a cache hit is never a way around authentication); no credential appears in
//! an error, a log line or a printed URL; SSH host keys are checked against the configured
//! known_hosts, never trusted on first use.

mod access;
mod cache;
mod credentials;
mod fetch_v2;
mod known_hosts;
mod ls_refs;
mod observer;
mod pkt;
mod remote;
mod repack;
mod revision;
mod timeouts;
mod tls;
mod tree;
mod url;
pub mod verify;
mod writeback;

use std::time::Duration;

use capstan_api::Reason;

pub use access::{Access, MAX_AUTHORIZATION_AGE};
pub use cache::{CacheLimits, CacheStats, CommitInfo, RepoCache, Resolved};
pub use credentials::Credentials;
pub use known_hosts::{HostKeyCheck, KnownHosts};
pub use observer::{Activity, Observer};
pub use remote::RemoteFailure;
pub use revision::{Advertisement, Wanted, resolve};
pub use tree::{EntryKind, GitTree};
pub use url::RepoUrl;
pub use verify::{Refusal, Signer, TrustedKeys};
pub use writeback::{FileChange, WriteOutcome, WriteRequest};

/// What went wrong with a git source. Messages name the repository (without credentials), the
/// revision, file or branch, and never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository URL cannot be used.
    #[error("invalid repository URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, with any password masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The credentials cannot be used.
    #[error("invalid git credentials: {reason}")]
    InvalidCredentials {
        /// Why (never the secret itself).
        reason: String,
    },
    /// The revision names no branch, tag or commit of the repository.
    #[error("revision {revision:?} not found: no such branch, tag or commit")]
    RevisionNotFound {
        /// The revision asked for.
        revision: String,
    },
    /// A network operation failed (connection, host key, certificate, protocol).
    #[error("failed to {action} {url}: {message}")]
    Remote {
        /// e.g. `fetch`, `list refs of`, `push to`.
        action: &'static str,
        /// The repository.
        url: String,
        /// What kind of failure it was, which decides whether to retry.
        kind: RemoteFailure,
        /// libgit2's message, scrubbed of secrets.
        message: String,
    },
    /// The remote refused the caller's credentials (or their absence), or a read came with an
    /// access proof that does not cover it.
    #[error("failed to {action} {url}: access refused: {message}")]
    Unauthorized {
        /// e.g. `list refs of`, `fetch`, `read`.
        action: &'static str,
        /// The repository.
        url: String,
        /// Why, scrubbed of secrets.
        message: String,
    },
    /// The operation ran past its deadline.
    #[error("timed out after {after:?} trying to {action} {url}")]
    Timeout {
        /// What was being done.
        action: &'static str,
        /// The repository.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// The operation was cancelled.
    #[error("cancelled while trying to {action} {url}")]
    Cancelled {
        /// What was being done.
        action: &'static str,
        /// The repository.
        url: String,
    },
    /// A push kept being rejected because others pushed first.
    #[error("push to branch {branch} of {url} rejected {attempts} times: {reason}")]
    PushRejected {
        /// The repository.
        url: String,
        /// The branch.
        branch: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last rejection.
        reason: String,
    },
    /// A path cannot be read from the commit.
    #[error("cannot read {path} at commit {commit}: {reason}")]
    Read {
        /// The path asked for.
        path: String,
        /// The commit.
        commit: String,
        /// Why: not found, outside the repository, a symlink leading out, too large, …
        reason: String,
    },
    /// The commit or tag to deploy is not signed by a trusted key (or not signed at all, or its
    /// signature does not match it).
    #[error(transparent)]
    Unverified(#[from] Refusal),
    /// The local cache repository failed.
    #[error("git cache: failed to {action}: {message}")]
    Local {
        /// What was being done.
        action: String,
        /// Why.
        message: String,
    },
}

impl Error {
    /// Whether trying again soon may succeed: a lost connection, a server error, a timeout, a
    /// cancelled operation, a push that lost a race, a local cache failure. Refused or invalid
    /// credentials, an untrusted host, an invalid URL, a missing revision or path are not: they
    /// stay until the repository, the Secret or the spec changes (and the next refresh, spec or
    /// Secret change tries again anyway).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Remote { kind, .. } => kind.is_retryable(),
            Error::Timeout { .. }
            | Error::Cancelled { .. }
            | Error::PushRejected { .. }
            | Error::Local { .. } => true,
            Error::InvalidUrl { .. }
            | Error::InvalidCredentials { .. }
            | Error::RevisionNotFound { .. }
            | Error::Unauthorized { .. }
            | Error::Unverified(_)
            | Error::Read { .. } => false,
        }
    }

    /// Why fetching or reading the source failed, for conditions, Events and metric labels.
    pub fn reason(&self) -> Reason {
        match self {
            Error::InvalidUrl { .. } => Reason::InvalidRepositoryUrl,
            Error::InvalidCredentials { .. } => Reason::InvalidCredentials,
            Error::RevisionNotFound { .. } => Reason::RevisionNotFound,
            Error::Remote { kind, .. } => kind.reason(),
            Error::Unauthorized { .. } => Reason::AuthenticationFailed,
            Error::Timeout { .. } => Reason::Timeout,
            Error::Cancelled { .. } => Reason::Cancelled,
            Error::PushRejected { .. } => Reason::PushRejected,
            Error::Read { .. } => Reason::SourceReadFailed,
            Error::Unverified(_) => Reason::VerificationFailed,
            Error::Local { .. } => Reason::GitCacheFailed,
        }
    }

    fn local(action: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Self::Local {
            action: action.into(),
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_errors_say_whether_to_retry_and_why() {
        let url = || "https://git.example/repo.git".to_owned();
        let cases = [
            (
                Error::InvalidUrl {
                    url: url(),
                    reason: "no host".into(),
                },
                false,
                Reason::InvalidRepositoryUrl,
            ),
            (
                Error::InvalidCredentials {
                    reason: "not UTF-8".into(),
                },
                false,
                Reason::InvalidCredentials,
            ),
            (
                Error::RevisionNotFound {
                    revision: "v9".into(),
                },
                false,
                Reason::RevisionNotFound,
            ),
            (
                Error::Remote {
                    action: "fetch",
                    url: url(),
                    kind: RemoteFailure::Connection,
                    message: "connection reset".into(),
                },
                true,
                Reason::FetchFailed,
            ),
            (
                Error::Remote {
                    action: "fetch",
                    url: url(),
                    kind: RemoteFailure::Untrusted,
                    message: "host key verification failed".into(),
                },
                false,
                Reason::HostNotTrusted,
            ),
            (
                Error::Unauthorized {
                    action: "fetch",
                    url: url(),
                    message: "refused".into(),
                },
                false,
                Reason::AuthenticationFailed,
            ),
            (
                Error::Timeout {
                    action: "fetch",
                    url: url(),
                    after: Duration::from_secs(60),
                },
                true,
                Reason::Timeout,
            ),
            (
                Error::Cancelled {
                    action: "fetch",
                    url: url(),
                },
                true,
                Reason::Cancelled,
            ),
            (
                Error::PushRejected {
                    url: url(),
                    branch: "main".into(),
                    attempts: 3,
                    reason: "fetch first".into(),
                },
                true,
                Reason::PushRejected,
            ),
            (
                Error::Read {
                    path: "a.yaml".into(),
                    commit: "abc".into(),
                    reason: "gone".into(),
                },
                false,
                Reason::SourceReadFailed,
            ),
            (
                Error::Unverified(Refusal::Unsigned {
                    object: verify::Signed::Commit("abc".into()),
                }),
                false,
                Reason::VerificationFailed,
            ),
            (
                Error::local("find commit", "odb failure"),
                true,
                Reason::GitCacheFailed,
            ),
        ];
        for (err, retryable, reason) in cases {
            assert_eq!(err.is_retryable(), retryable, "{err}");
            assert_eq!(err.reason(), reason, "{err}");
        }
    }
}
