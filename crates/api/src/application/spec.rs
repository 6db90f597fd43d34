//! An Application's `spec`: where the manifests come from (`source`), where they go
//! (`destination`), how and when they are synced (`syncPolicy`, `refreshInterval`, `suspend`,
//! `dependsOn`) and which differences do not count (`ignoreDifferences`). Field names are Argo CD's
//! where the meaning is the same. Every doc comment here becomes a description in the CRD.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::{DURATION_PATTERN, DurationError, parse_duration};

/// How often the source is looked at when `refreshInterval` is not set.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(180);

/// The desired state of an Application: a directory of a git repository, applied to a
/// namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Where the manifests come from: a directory at a revision of a git repository.
    pub source: ApplicationSource,
    /// Where the manifests are applied.
    pub destination: ApplicationDestination,
    /// When and how syncs happen. Without it, or without `automated`, Capstan only compares and
    /// reports; a sync happens when one is requested through `operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// How often the repository is checked for a new commit, as a Go duration (`3m`, `1m30s`);
    /// default `3m`. A webhook or the `capstan.dev/refresh` annotation triggers a check at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub refresh_interval: Option<String>,
    /// Stops all reconciliation of this Application: no fetch, compare or sync, automated or
    /// requested, until set back to false. Applied objects are left as they are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Applications that must be Ready (condition `Ready` is `True`) before this one syncs;
    /// `status.waitingFor` lists those that are not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ApplicationReference>,
    /// Differences to ignore when comparing live objects with the desired ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifferences>,
}

impl ApplicationSpec {
    /// The refresh interval: `refreshInterval` parsed, or [`DEFAULT_REFRESH_INTERVAL`].
    pub fn refresh_interval(&self) -> Result<Duration, DurationError> {
        self.refresh_interval
            .as_deref()
            .map_or(Ok(DEFAULT_REFRESH_INTERVAL), parse_duration)
    }
}

/// A directory at a revision of a git repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// The repository's URL: `https://…` or `ssh://git@host/…`.
    #[serde(rename = "repoURL")]
    #[schemars(length(min = 1))]
    pub repo_url: String,
    /// The branch, tag or commit to deploy; `HEAD` (the default) is the remote's default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// The directory inside the repository: a kustomization, or a plain directory of YAML files;
    /// default the repository's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A Secret in the Application's namespace with the repository's credentials: `username` and
    /// `password`, or `bearerToken`, for HTTPS; `identity` and `known_hosts` for SSH; `ca.crt`
    /// for a private certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// Deploy only signed commits: the commit the revision resolves to — or the annotated tag it
    /// names — must carry an SSH or OpenPGP signature by a key of the Secret. Otherwise nothing
    /// of it is rendered or applied, and the commit deployed before stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<SourceVerification>,
}

impl ApplicationSource {
    /// The revision to deploy: `targetRevision`, or `HEAD` when it is unset or empty.
    pub fn target_revision(&self) -> &str {
        match self.target_revision.as_deref() {
            None | Some("") => "HEAD",
            Some(revision) => revision,
        }
    }
}

/// The name of a Secret in the Application's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SecretReference {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Which commits may be deployed: only those signed by a trusted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceVerification {
    /// What is verified.
    pub mode: VerifyMode,
    /// A Secret in the Application's namespace holding the trusted public keys: each data entry
    /// is SSH public key lines (`ssh-ed25519 AAAA… comment`) or an ASCII-armored OpenPGP public
    /// key block.
    pub secret_ref: SecretReference,
}

/// What signature verification checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// The commit `targetRevision` resolves to (the annotated tag, when it names one) must be
    /// signed by a trusted key.
    Head,
}

/// Where the manifests are applied, and as whom.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDestination {
    /// The namespace given to namespaced objects that name none; default the Application's own
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A Secret in the Application's namespace whose `value` key holds a kubeconfig of another
    /// cluster to apply to (credentials inline); default the cluster Capstan runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config_secret_ref: Option<SecretReference>,
    /// A service account in the Application's namespace that every write is made as
    /// (impersonated), so an Application can do only what its account may; default the
    /// controller's default deployer account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// When and how syncs happen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Sync automatically whenever the source or the cluster differs from what was synced;
    /// without it, syncs happen only on request (`operation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<AutomatedSync>,
    /// Options for every sync of this Application, `Name=value`: `CreateNamespace=true`,
    /// `PruneLast=true`, `ApplyOutOfSyncOnly=true`, `Prune=false`, `Force=true`, `Replace=true`.
    /// An object's `capstan.dev/sync-options` annotation overrides them for that object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Retries of a failed sync; without it a failed sync is tried again only when something
    /// changes (a new commit, a spec change, a refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
}

/// Automated sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomatedSync {
    /// Delete objects that left the desired set; default false (they are reported as requiring
    /// pruning).
    #[serde(default)]
    pub prune: bool,
    /// Sync when the cluster drifts from git (someone edited an object), not only when git
    /// changes; default false.
    #[serde(default)]
    pub self_heal: bool,
    /// Let an automated prune delete every object when the source renders to nothing; default
    /// false (an empty render is refused, as a mistake is likelier than the wish).
    #[serde(default)]
    pub allow_empty: bool,
}

/// How often and how soon a failed sync is tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryStrategy {
    /// How many times a failed sync is retried; a negative number retries without end;
    /// default 0 (never).
    #[serde(default)]
    pub limit: i64,
    /// The waits between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Exponential backoff: `duration`, then `duration × factor`, … up to `maxDuration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// The first wait, as a Go duration; default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub duration: Option<String>,
    /// What each wait is multiplied by; default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub factor: Option<i64>,
    /// The longest wait, as a Go duration; default `3m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub max_duration: Option<String>,
}

impl Backoff {
    /// The first wait when `duration` is unset.
    pub const DEFAULT_DURATION: Duration = Duration::from_secs(5);
    /// The factor when `factor` is unset.
    pub const DEFAULT_FACTOR: i64 = 2;
    /// The longest wait when `maxDuration` is unset.
    pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(180);

    /// The first wait: `duration` parsed, or [`Backoff::DEFAULT_DURATION`].
    pub fn duration(&self) -> Result<Duration, DurationError> {
        self.duration
            .as_deref()
            .map_or(Ok(Self::DEFAULT_DURATION), parse_duration)
    }

    /// The longest wait: `maxDuration` parsed, or [`Backoff::DEFAULT_MAX_DURATION`].
    pub fn max_duration(&self) -> Result<Duration, DurationError> {
        self.max_duration
            .as_deref()
            .map_or(Ok(Self::DEFAULT_MAX_DURATION), parse_duration)
    }
}

/// Another Application, by name and namespace.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct ApplicationReference {
    /// Its name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Its namespace; default this Application's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Differences to ignore on the objects it matches: fields by JSON pointer, or every field
/// owned by the named field managers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifferences {
    /// The objects' API group; empty (the default) for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The objects' kind, or `*` for every kind.
    #[schemars(length(min = 1))]
    pub kind: String,
    /// Only the object with this name; default every name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only objects in this namespace; default every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Fields to ignore, as JSON pointers (RFC 6901), e.g. `/spec/replicas`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// Ignore every field these field managers own (`kube-controller-manager`, say), as their
    /// `managedFields` say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}
