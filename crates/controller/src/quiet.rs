//! Periodic re-compares that cannot find anything new are skipped. A re-compare of an
//! Application that was Synced, with no sync to run, would find the same again while the
//! Application (its spec, status and annotations: its resourceVersion), the commit its revision
//! resolves to and every object the watches follow for it are those of the last compare; then
//! it renders nothing new, reads nothing and writes nothing. Anything else — a new commit, a
//! changed object (or one another Application took), a watch listing again, a Secret changing —
//! makes the next reconcile compare in full.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use capstan_cluster::live_version::LiveVersion;
use capstan_core::tracking::AppId;

/// What a re-compare depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The Application's resourceVersion.
    pub application: String,
    /// The commit the revision resolved to.
    pub commit: String,
    /// The version of the Application's objects in its cluster's watch caches, taken before
    /// they were read.
    pub live: LiveVersion,
}

/// The inputs of each Application's last compare that found everything Synced, by app id.
#[derive(Debug, Default)]
pub struct Quiet(Mutex<HashMap<String, Inputs>>);

impl Quiet {
    /// Whether the last compare of `app` found everything Synced from these very inputs.
    pub fn unchanged(&self, app: &AppId, inputs: &Inputs) -> bool {
        let known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(app.as_str()) == Some(inputs)
    }

    /// A compare of `app` from `inputs` found everything Synced (`Some`), or not (`None`).
    pub fn set(&self, app: &AppId, inputs: Option<Inputs>) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match inputs {
            Some(inputs) => known.insert(app.as_str().to_owned(), inputs),
            None => known.remove(app.as_str()),
        };
    }

    /// Every Application compares in full next time (a Secret changed: credentials, keys or a
    /// cluster may be others now).
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
