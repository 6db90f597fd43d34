//! Kubernetes Events for the transitions a user cares about, decided by comparing the status
//! before and after a reconcile (pure: `transitions`) and published with the bounded `Recorder`:
//! a sync started, succeeded (with what it created, configured and pruned) or failed (with its
//! reason), the health changed, or the Application stopped being able to reconcile.

use capstan_api::application::{ApplicationStatus, ConditionStatus, ConditionType};
use capstan_api::{OperationPhase, OperationState, Reason, ResourceAction};
use kube::runtime::events::{Event, EventType};

use crate::recorder::Recorder;

/// Ready=False reasons that describe a state, not a failure: no warning for them.
const NOT_FAILURES: [Reason; 5] = [
    Reason::Synced,
    Reason::OutOfSync,
    Reason::Progressing,
    Reason::DependencyNotReady,
    Reason::Suspended,
];

/// One Event to publish: its type, bounded reason (PascalCase), action and note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// A warning (something failed) or normal.
    pub warning: bool,
    /// A bounded, PascalCase reason: a `capstan_api::Reason` name, or `SyncStarted`, `Synced`,
    /// `HealthChanged`.
    pub reason: String,
    /// What the controller was doing: `Sync` or `Reconcile`.
    pub action: &'static str,
    /// For people.
    pub note: String,
}

/// The transitions from `before` to `after`, in the order they happened.
pub fn transitions(
    before: Option<&ApplicationStatus>,
    after: &ApplicationStatus,
) -> Vec<Transition> {
    let mut out = Vec::new();
    let op_before = before.and_then(|s| s.operation_state.as_ref());
    if let Some(op) = after
        .operation_state
        .as_ref()
        .filter(|op| Some(*op) != op_before)
    {
        let new = op_before.is_none_or(|b| b.started_at != op.started_at);
        if new {
            out.push(normal(
                "SyncStarted",
                "Sync",
                format!("syncing {}", revision(op)),
            ));
        }
        match op.phase {
            OperationPhase::Succeeded => out.push(normal("Synced", "Sync", succeeded(op))),
            OperationPhase::Failed | OperationPhase::Error => out.push(Transition {
                warning: true,
                reason: op.reason.map_or("SyncFailed", |r| r.as_str()).to_owned(),
                action: "Sync",
                note: format!("sync of {} failed: {}", revision(op), op.message),
            }),
            _ => {}
        }
    }
    let health =
        |s: Option<&ApplicationStatus>| s.and_then(|s| s.health.as_ref()).map(|h| h.status);
    if let Some(now) = health(Some(after)).filter(|h| Some(*h) != health(before)) {
        out.push(normal(
            "HealthChanged",
            "Reconcile",
            format!("health is {now}"),
        ));
    }
    let failing = |s: Option<&ApplicationStatus>| {
        s.and_then(|s| s.condition(ConditionType::Ready))
            .filter(|c| c.status == ConditionStatus::False)
            .map(|c| (c.reason, c.message.clone()))
    };
    let new_failure = failing(Some(after))
        .filter(|f| Some(f) != failing(before).as_ref())
        .filter(|(reason, _)| !NOT_FAILURES.contains(reason));
    if let Some((reason, message)) = new_failure {
        out.push(Transition {
            warning: true,
            reason: reason.as_str().to_owned(),
            action: "Reconcile",
            note: message,
        });
    }
    out
}

/// Publishes `transitions` for the object `reference`; a failure to publish is logged, never
/// fatal (Events are for people, status is the record).
pub async fn publish(
    recorder: &Recorder,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    transitions: Vec<Transition>,
) {
    for t in transitions {
        let event = Event {
            type_: if t.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: t.reason,
            note: Some(t.note),
            action: t.action.to_owned(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, reference).await {
            tracing::warn!(%error, "cannot publish an event");
        }
    }
}

fn normal(reason: &str, action: &'static str, note: String) -> Transition {
    Transition {
        warning: false,
        reason: reason.to_owned(),
        action,
        note,
    }
}

fn revision(op: &OperationState) -> String {
    let sha = op
        .sync_result
        .as_ref()
        .map_or(op.operation.revision.as_str(), |r| &r.revision);
    sha.chars().take(7).collect()
}

/// `synced 4f2c1e0: 2 created, 1 configured, 1 pruned`.
fn succeeded(op: &OperationState) -> String {
    let count = |action: ResourceAction| {
        op.sync_result.as_ref().map_or(0, |r| {
            r.resources
                .iter()
                .filter(|x| x.action == Some(action))
                .count()
        })
    };
    format!(
        "synced {}: {} created, {} configured, {} pruned",
        revision(op),
        count(ResourceAction::Created) + count(ResourceAction::Recreated),
        count(ResourceAction::Configured),
        count(ResourceAction::Pruned)
    )
}

#[cfg(test)]
mod tests {
    use capstan_api::application::HealthSummary;
    use capstan_api::{HealthStatus, Operation, SyncResult};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn at(second: u32) -> Time {
        Time(format!("2026-11-30T12:00:{second:02}Z").parse().unwrap())
    }

    fn operation(phase: OperationPhase, started: u32) -> OperationState {
        OperationState {
            operation: Operation::default(),
            phase,
            reason: (phase == OperationPhase::Failed).then_some(Reason::ImmutableField),
            message: "field is immutable".into(),
            started_at: at(started),
            finished_at: None,
            wave: None,
            step: None,
            retry_count: 0,
            initiated_by: None,
            sync_result: Some(SyncResult {
                revision: "4f2c1e0aa".into(),
                resources: Vec::new(),
            }),
        }
    }

    fn status(op: Option<OperationState>, health: Option<HealthStatus>) -> ApplicationStatus {
        ApplicationStatus {
            operation_state: op,
            health: health.map(|status| HealthSummary {
                status,
                message: String::new(),
            }),
            ..ApplicationStatus::default()
        }
    }

    fn reasons(before: Option<&ApplicationStatus>, after: &ApplicationStatus) -> Vec<String> {
        transitions(before, after)
            .into_iter()
            .map(|t| t.reason)
            .collect()
    }

    #[test]
    fn a_sync_is_announced_once_when_it_starts_and_once_when_it_ends() {
        let none = status(None, None);
        let running = status(Some(operation(OperationPhase::Running, 1)), None);
        let done = status(
            Some(operation(OperationPhase::Succeeded, 1)),
            Some(HealthStatus::Healthy),
        );
        assert_eq!(reasons(Some(&none), &running), ["SyncStarted"]);
        assert_eq!(reasons(Some(&running), &running), Vec::<String>::new());
        assert_eq!(reasons(Some(&running), &done), ["Synced", "HealthChanged"]);
        assert_eq!(reasons(Some(&done), &done), Vec::<String>::new());
        let failed = status(
            Some(operation(OperationPhase::Failed, 2)),
            Some(HealthStatus::Healthy),
        );
        let events = transitions(Some(&done), &failed);
        assert_eq!(
            events.iter().map(|t| t.reason.as_str()).collect::<Vec<_>>(),
            ["SyncStarted", "ImmutableField"]
        );
        assert!(events[1].warning && events[1].note.contains("field is immutable"));
    }
}
