//! What a watch cache has seen change, per application: a `LiveVersion` taken before a read and
//! again later is equal only when no watched object of the application changed (or went) and no
//! watch listed its resource type again in between — so a caller that found everything in place
//! can tell that looking again would find the same.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The state of one application's watched objects, as far as the watches have told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveVersion {
    /// How many times a watch (re)listed its resource type: a LIST replaces a store whole, so
    /// what it changed is not told object by object.
    lists: u64,
    /// The sequence number of the application's last change (0: none seen).
    changed: u64,
}

/// Change counts kept by a cache's watches.
#[derive(Debug, Default)]
pub struct Versions(Mutex<Counts>);

#[derive(Debug, Default)]
struct Counts {
    lists: u64,
    sequence: u64,
    by_app: HashMap<Box<str>, u64>,
}

impl Versions {
    /// An object of `app` (`namespace/name`) changed or went.
    pub fn changed(&self, app: &str) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.sequence += 1;
        let sequence = counts.sequence;
        match counts.by_app.get_mut(app) {
            Some(last) => *last = sequence,
            None => {
                counts.by_app.insert(app.into(), sequence);
            }
        }
    }

    /// A watch listed its resource type (again) and replaced its store.
    pub fn listed(&self) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.lists += 1;
    }

    /// The version of `app`'s watched objects now.
    pub fn of(&self, app: &str) -> LiveVersion {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        LiveVersion {
            lists: counts.lists,
            changed: counts.by_app.get(app).copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_moves_with_its_own_changes_and_every_list_only() {
        let versions = Versions::default();
        let web = versions.of("apps/web");
        let db = versions.of("apps/db");
        versions.changed("apps/db");
        assert_eq!(versions.of("apps/web"), web, "another application's change");
        assert_ne!(versions.of("apps/db"), db);
        let db = versions.of("apps/db");
        versions.changed("apps/db");
        assert_ne!(
            versions.of("apps/db"),
            db,
            "a second change of the same application"
        );
        let (web, db) = (versions.of("apps/web"), versions.of("apps/db"));
        versions.listed();
        assert_ne!(
            versions.of("apps/web"),
            web,
            "a list may have changed anything"
        );
        assert_ne!(versions.of("apps/db"), db);
    }
}
