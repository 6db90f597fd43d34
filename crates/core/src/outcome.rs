//! The result of a sync as data: what happened to each object, in the order it happened.

use std::fmt;

use capstan_api::{Reason, ResourceAction, ResourceResult, ResultStatus};

use crate::object::ObjectKey;

/// What a sync did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object existed and the apply changed nothing (or it was skipped as in sync).
    Unchanged,
    /// The object left the desired set and was deleted.
    Pruned,
    /// The object left the desired set but was kept (`Prune=false`, or its kind is not served).
    PruneSkipped,
    /// The object left the desired set and was not pruned because the sync does not prune; it
    /// stays in the inventory until a sync prunes it.
    PruneRequired,
    /// The operation failed; the message says why.
    Failed,
}

impl Action {
    /// The lowercase word printed by the CLI (`created`, `configured`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Pruned => "pruned",
            Action::PruneSkipped => "prune skipped",
            Action::PruneRequired => "requires pruning",
            Action::Failed => "failed",
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    /// The object.
    pub key: ObjectKey,
    /// What happened.
    pub action: Action,
    /// Why it failed or was left alone, as a bounded reason; `None` when it simply went well.
    pub reason: Option<Reason>,
    /// Details: the error for failures, the reason for skips; may be empty.
    pub message: String,
}

impl ObjectOutcome {
    /// An outcome with no reason (it went as planned).
    pub fn new(key: &ObjectKey, action: Action, message: &str) -> ObjectOutcome {
        ObjectOutcome {
            key: key.clone(),
            action,
            reason: None,
            message: message.to_owned(),
        }
    }

    /// The same outcome, with `reason`.
    pub fn because(mut self, reason: Reason) -> ObjectOutcome {
        self.reason = Some(reason);
        self
    }

    /// A failure for `reason`.
    pub fn failed(key: &ObjectKey, reason: Reason, message: &str) -> ObjectOutcome {
        ObjectOutcome::new(key, Action::Failed, message).because(reason)
    }
}

impl ObjectOutcome {
    /// The result to keep in an Application's operation state, for an object applied with
    /// `version`.
    pub fn result(&self, version: &str) -> ResourceResult {
        let (status, action) = match self.action {
            Action::Created if self.message.starts_with("recreated") => {
                (ResultStatus::Synced, Some(ResourceAction::Recreated))
            }
            Action::Created => (ResultStatus::Synced, Some(ResourceAction::Created)),
            Action::Configured => (ResultStatus::Synced, Some(ResourceAction::Configured)),
            Action::Unchanged => (ResultStatus::Synced, Some(ResourceAction::Unchanged)),
            Action::Pruned => (ResultStatus::Pruned, Some(ResourceAction::Pruned)),
            Action::PruneSkipped => (ResultStatus::PruneSkipped, None),
            Action::PruneRequired => (ResultStatus::PruneRequired, None),
            Action::Failed => (ResultStatus::SyncFailed, None),
        };
        ResourceResult {
            object: self.key.entry(version),
            status,
            action,
            reason: self.reason,
            message: self.message.clone(),
            hook_phase: None,
        }
    }
}

/// Why a sync stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The bounded reason (for conditions, Events and metric labels).
    pub reason: Reason,
    /// What happened, for people.
    pub message: String,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for ObjectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.action.as_str())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// The whole sync: per-object outcomes, and whether it stopped early.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Outcomes in the order the objects were handled.
    pub objects: Vec<ObjectOutcome>,
    /// Why the sync stopped before the end (a failed apply, an unhealthy wave), if it did.
    pub stopped: Option<Stop>,
}

impl SyncOutcome {
    /// Whether every object succeeded and the sync ran to the end.
    pub fn succeeded(&self) -> bool {
        self.stopped.is_none() && self.objects.iter().all(|o| o.action != Action::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectKey {
        ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "prod".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn outcomes_become_argo_style_results() {
        let cases = [
            (
                ObjectOutcome::new(&key(), Action::Created, ""),
                ResultStatus::Synced,
                Some(ResourceAction::Created),
            ),
            (
                ObjectOutcome::new(
                    &key(),
                    Action::Created,
                    "recreated: an immutable field changed",
                ),
                ResultStatus::Synced,
                Some(ResourceAction::Recreated),
            ),
            (
                ObjectOutcome::new(&key(), Action::Unchanged, ""),
                ResultStatus::Synced,
                Some(ResourceAction::Unchanged),
            ),
            (
                ObjectOutcome::new(&key(), Action::Pruned, ""),
                ResultStatus::Pruned,
                Some(ResourceAction::Pruned),
            ),
            (
                ObjectOutcome::new(&key(), Action::PruneSkipped, "sync option Prune=false")
                    .because(Reason::PruneDisabled),
                ResultStatus::PruneSkipped,
                None,
            ),
            (
                ObjectOutcome::new(&key(), Action::PruneRequired, ""),
                ResultStatus::PruneRequired,
                None,
            ),
            (
                ObjectOutcome::failed(&key(), Reason::ImmutableField, "field is immutable"),
                ResultStatus::SyncFailed,
                None,
            ),
        ];
        for (outcome, status, action) in cases {
            let result = outcome.result("v1");
            assert_eq!(
                (result.status, result.action),
                (status, action),
                "{outcome}"
            );
            assert_eq!(result.reason, outcome.reason);
            assert_eq!(result.object.version, "v1");
            assert_eq!(result.object.name, "web");
        }
    }
}
