//! The top-level `operation` field: a request to sync, written by `capstan sync` (and the web
//! UI), carried out and then cleared by the controller, which records the outcome in
//! `status.operationState`. Argo CD's shape, so its users and tools recognise it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Operation;

/// A requested operation. Only `sync` exists today.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOperation {
    /// Who asked.
    #[serde(default)]
    pub initiated_by: InitiatedBy,
    /// Sync the Application once, with these settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOperation>,
}

/// Who requested an operation: a user, or the controller itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitiatedBy {
    /// The user who asked, as the API server knows them (what `kubectl auth whoami` says).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// True when the controller started the operation (automated sync, self-heal, retry).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automated: bool,
}

/// A requested sync. Unset fields take the Application's spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperation {
    /// The branch, tag or commit to sync; default `spec.source.targetRevision`. A revision other
    /// than the target holds only for this sync: the next automated sync returns to the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Delete objects that left the desired set; default `spec.syncPolicy.automated.prune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Only report what the sync would do (server-side dry-runs); nothing is changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Sync options for this sync, `Name=value`; they override `spec.syncPolicy.syncOptions`
    /// of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
}

impl SyncOperation {
    /// What this request asks, with the spec's settings for what it leaves unset: the
    /// [`Operation`] that `status.operationState.operation` records. `target_revision`,
    /// `prune` and `sync_options` are the spec's.
    pub fn resolve(
        &self,
        target_revision: &str,
        prune: bool,
        sync_options: &[String],
    ) -> Operation {
        let mut options: Vec<String> = sync_options
            .iter()
            .filter(|spec| {
                !self
                    .sync_options
                    .iter()
                    .any(|o| option_name(o) == option_name(spec))
            })
            .cloned()
            .collect();
        options.extend(self.sync_options.iter().cloned());
        Operation {
            revision: self
                .revision
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| target_revision.to_owned()),
            prune: self.prune.unwrap_or(prune),
            dry_run: self.dry_run,
            sync_options: options,
        }
    }
}

/// The name of a `Name=value` sync option.
fn option_name(option: &str) -> &str {
    option.split_once('=').map_or(option, |(name, _)| name)
}
