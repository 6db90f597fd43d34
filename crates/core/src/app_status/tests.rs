//! `compute_status`, case by case: each test gives the previous status, an outcome and the time,
//! and the expected status as text (`render`). `check` also asserts, for every case, that the
//! computation is deterministic and that feeding its result back as `previous` with the same
//! outcome (now or later) changes nothing, and that `Reconciling` and `Stalled` never come
//! together.

use capstan_api::application::{
    ApplicationReference, ApplicationStatus, ConditionType, HISTORY_LIMIT, InitiatedBy,
    RevisionHistory,
};
use capstan_api::{
    HealthStatus, InventoryEntry, Operation, OperationPhase, OperationState, Reason, SyncResult,
    SyncStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{CommitSummary, Failure, ObjectState, ReconcileOutcome, compute_status};

/// 2026-01-01T00:00:00Z; times in cases are seconds after it, rendered `t<seconds>`.
const BASE: i64 = 1_767_225_600;
const SHA: &str = "4f2c1e0b5329cbe41edab0b7fde2d01d6aa00bcd";
const NEXT_SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn t(seconds: i64) -> Time {
    match Timestamp::from_second(BASE + seconds) {
        Ok(ts) => Time(ts),
        Err(err) => panic!("a test time out of range: {err}"),
    }
}

fn at(time: &Time) -> String {
    format!("t{}", time.0.as_second() - BASE)
}

fn entry(group: &str, kind: &str, namespace: &str, name: &str) -> InventoryEntry {
    InventoryEntry {
        group: group.to_string(),
        version: "v1".to_string(),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        applied: None,
    }
}

fn object(
    object: InventoryEntry,
    sync: SyncStatus,
    health: Option<HealthStatus>,
    message: &str,
) -> ObjectState {
    ObjectState {
        object,
        sync,
        health,
        health_message: message.to_string(),
        requires_pruning: false,
    }
}

fn deployment(sync: SyncStatus, health: HealthStatus, message: &str) -> ObjectState {
    object(
        entry("apps", "Deployment", "web", "web"),
        sync,
        Some(health),
        message,
    )
}

fn config_map() -> ObjectState {
    object(
        entry("", "ConfigMap", "web", "web-settings"),
        SyncStatus::Synced,
        None,
        "",
    )
}

fn commit(sha: &str) -> Option<CommitSummary> {
    Some(CommitSummary {
        sha: sha.to_string(),
        subject: "web: raise replicas to 3".to_string(),
    })
}

/// A compare at `SHA` of generation 1 that found `objects`, with the inventory they make.
fn compared(objects: Vec<ObjectState>) -> ReconcileOutcome {
    ReconcileOutcome {
        generation: Some(1),
        commit: commit(SHA),
        inventory: Some(objects.iter().map(|o| o.object.clone()).collect()),
        objects: Some(objects),
        ..ReconcileOutcome::default()
    }
}

fn healthy() -> ReconcileOutcome {
    compared(vec![
        deployment(SyncStatus::Synced, HealthStatus::Healthy, ""),
        config_map(),
    ])
}

fn operation(phase: OperationPhase, started: i64, finished: Option<i64>) -> OperationState {
    OperationState {
        operation: Operation {
            revision: "main".to_string(),
            prune: true,
            ..Operation::default()
        },
        phase,
        reason: None,
        message: String::new(),
        started_at: t(started),
        finished_at: finished.map(t),
        wave: Some(0),
        step: None,
        retry_count: 0,
        initiated_by: None,
        sync_result: Some(SyncResult {
            revision: SHA.to_string(),
            resources: Vec::new(),
        }),
    }
}

fn failure(reason: Reason, message: &str, retryable: bool) -> Option<Failure> {
    Some(Failure {
        reason,
        message: message.to_string(),
        retryable,
    })
}

fn automated() -> Option<InitiatedBy> {
    Some(InitiatedBy {
        username: String::new(),
        automated: true,
    })
}

/// The status as a few lines of text; times as `t<seconds>`, commits shortened.
fn render(status: &ApplicationStatus) -> String {
    let short = |r: &str| r.get(..7).unwrap_or(r).to_string();
    let generation = |g: Option<i64>| g.map_or("-".to_string(), |g| g.to_string());
    let mut out = vec![format!(
        "generation {}",
        generation(status.observed_generation)
    )];
    for c in &status.conditions {
        out.push(format!(
            "{} {} {} {:?} since {} (generation {})",
            c.type_,
            c.status,
            c.reason,
            c.message,
            at(&c.last_transition_time),
            generation(c.observed_generation)
        ));
    }
    out.push(match &status.sync {
        Some(s) => format!(
            "sync {} {} {:?}",
            s.status,
            s.revision.as_deref().map_or("-".to_string(), short),
            s.subject.as_deref().unwrap_or("-")
        ),
        None => "sync -".to_string(),
    });
    out.push(match &status.health {
        Some(h) => format!("health {} {:?}", h.status, h.message),
        None => "health -".to_string(),
    });
    for r in &status.resources {
        let health = r.health.map_or("-".to_string(), |h| h.to_string());
        let prune = if r.requires_pruning {
            " requires pruning"
        } else {
            ""
        };
        out.push(format!(
            "resource {}/{} {} {}/{} {} {health}{prune}",
            r.group, r.version, r.kind, r.namespace, r.name, r.status
        ));
    }
    if let Some(op) = &status.operation_state {
        out.push(format!("operation {}", op.phase));
    }
    for h in &status.history {
        out.push(format!(
            "history {} {} deployed {} started {} automated {}",
            h.id,
            short(&h.revision),
            at(&h.deployed_at),
            h.deploy_started_at.as_ref().map_or("-".to_string(), at),
            h.initiated_by.as_ref().is_some_and(|i| i.automated)
        ));
    }
    for w in &status.waiting_for {
        out.push(format!("waiting for {w:?}"));
    }
    out.push(format!("inventory {}", status.inventory.len()));
    out.join("\n")
}

/// Computes the status, compares it with `expected`, and checks the properties every status
/// has; returns it for the next step of a case.
#[track_caller]
fn check(
    previous: Option<&ApplicationStatus>,
    outcome: &ReconcileOutcome,
    now: i64,
    expected: &str,
) -> ApplicationStatus {
    let status = compute_status(previous, outcome, &t(now));
    let expected: Vec<&str> = expected.trim().lines().map(str::trim).collect();
    assert_eq!(render(&status), expected.join("\n"));

    assert_eq!(
        compute_status(previous, outcome, &t(now)),
        status,
        "deterministic"
    );
    for later in [now, now + 60] {
        assert_eq!(
            compute_status(Some(&status), outcome, &t(later)),
            status,
            "computing again at t{later} with the result as previous changes nothing"
        );
    }
    // What the API server stores (the grouped form) reads back as this very status, so the
    // controller never sees a difference that is only an ordering and writes it again.
    let stored: ApplicationStatus = serde_json::to_value(&status)
        .and_then(serde_json::from_value)
        .expect("a status round-trips");
    assert_eq!(stored, status, "the stored form reads back unchanged");
    assert!(
        status.condition(ConditionType::Ready).is_some(),
        "Ready is always present"
    );
    assert!(
        status.condition(ConditionType::Reconciling).is_none()
            || status.condition(ConditionType::Stalled).is_none(),
        "never both Reconciling and Stalled"
    );
    status
}

#[test]
fn a_first_reconcile_that_finds_everything_synced_and_healthy_is_ready() {
    let mut outcome = healthy();
    if let Some(objects) = &mut outcome.objects {
        objects.reverse(); // the resources are sorted whatever the order of the compare
    }
    check(
        None,
        &outcome,
        0,
        r#"
        generation 1
        Ready True Synced "in sync at 4f2c1e0 and healthy" since t0 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Healthy
        inventory 2
    "#,
    );
}

#[test]
fn a_rollout_in_progress_is_reconciling_with_the_workloads_message() {
    let outcome = compared(vec![
        deployment(
            SyncStatus::Synced,
            HealthStatus::Progressing,
            "1 of 3 replicas updated",
        ),
        config_map(),
    ]);
    check(
        None,
        &outcome,
        0,
        r#"
        generation 1
        Ready False Progressing "Deployment web/web: 1 of 3 replicas updated" since t0 (generation 1)
        Reconciling True Progressing "Deployment web/web: 1 of 3 replicas updated" since t0 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Progressing "Deployment web/web: 1 of 3 replicas updated"
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Progressing
        inventory 2
    "#,
    );
}

#[test]
fn a_retryable_render_failure_after_a_healthy_state_makes_sync_unknown_at_the_failing_commit_and_keeps_the_rest()
 {
    let ready = compute_status(None, &healthy(), &t(0));
    let outcome = ReconcileOutcome {
        generation: Some(2),
        commit: commit(NEXT_SHA),
        failure: failure(
            Reason::RenderFailed,
            "kustomization.yaml: unknown field",
            true,
        ),
        ..ReconcileOutcome::default()
    };
    check(
        Some(&ready),
        &outcome,
        10,
        r#"
        generation 2
        Ready False RenderFailed "kustomization.yaml: unknown field" since t10 (generation 2)
        Reconciling True RenderFailed "kustomization.yaml: unknown field" since t10 (generation 2)
        sync Unknown 89abcde "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Healthy
        inventory 2
    "#,
    );
}

#[test]
fn a_failure_that_retrying_cannot_fix_stalls_and_keeps_the_previous_revision_when_none_resolved() {
    let ready = compute_status(None, &healthy(), &t(0));
    let outcome = ReconcileOutcome {
        generation: Some(2),
        failure: failure(
            Reason::RevisionNotFound,
            "no branch or tag named relase",
            false,
        ),
        ..ReconcileOutcome::default()
    };
    check(
        Some(&ready),
        &outcome,
        10,
        r#"
        generation 2
        Ready False RevisionNotFound "no branch or tag named relase" since t10 (generation 2)
        Stalled True RevisionNotFound "no branch or tag named relase" since t10 (generation 2)
        sync Unknown 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Healthy
        inventory 2
    "#,
    );
}

#[test]
fn a_retryable_failure_that_becomes_final_trades_reconciling_for_stalled_and_keeps_ready_time() {
    let retrying = ReconcileOutcome {
        generation: Some(1),
        failure: failure(Reason::FetchFailed, "connection refused", true),
        ..ReconcileOutcome::default()
    };
    let first = compute_status(None, &retrying, &t(0));
    let exhausted = ReconcileOutcome {
        failure: failure(
            Reason::FetchFailed,
            "connection refused; retries exhausted",
            false,
        ),
        ..retrying
    };
    check(
        Some(&first),
        &exhausted,
        30,
        r#"
        generation 1
        Ready False FetchFailed "connection refused; retries exhausted" since t0 (generation 1)
        Stalled True FetchFailed "connection refused; retries exhausted" since t30 (generation 1)
        sync Unknown - "-"
        health -
        inventory 0
    "#,
    );
}

#[test]
fn waiting_for_dependencies_names_them_and_is_reconciling() {
    let outcome = ReconcileOutcome {
        generation: Some(1),
        waiting_for: vec![
            ApplicationReference {
                name: "platform-crds".to_string(),
                namespace: Some("capstan".to_string()),
            },
            ApplicationReference {
                name: "databases".to_string(),
                namespace: None,
            },
        ],
        ..ReconcileOutcome::default()
    };
    check(
        None,
        &outcome,
        0,
        r#"
        generation 1
        Ready False DependencyNotReady "waiting for capstan/platform-crds, databases" since t0 (generation 1)
        Reconciling True DependencyNotReady "waiting for capstan/platform-crds, databases" since t0 (generation 1)
        sync -
        health -
        waiting for ApplicationReference { name: "platform-crds", namespace: Some("capstan") }
        waiting for ApplicationReference { name: "databases", namespace: None }
        inventory 0
    "#,
    );
}

#[test]
fn a_suspended_application_is_not_ready_and_neither_reconciling_nor_stalled() {
    let ready = compute_status(None, &healthy(), &t(0));
    let outcome = ReconcileOutcome {
        generation: Some(2),
        suspended: true,
        ..ReconcileOutcome::default()
    };
    check(
        Some(&ready),
        &outcome,
        10,
        r#"
        generation 2
        Ready False Suspended "spec.suspend is true" since t10 (generation 2)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Healthy
        inventory 2
    "#,
    );
}

#[test]
fn a_running_operation_is_reconciling_and_names_the_commit_and_wave() {
    let outcome = ReconcileOutcome {
        operation: Some(operation(OperationPhase::Running, 0, None)),
        initiated_by: automated(),
        ..compared(vec![
            deployment(SyncStatus::OutOfSync, HealthStatus::Healthy, ""),
            config_map(),
        ])
    };
    check(
        None,
        &outcome,
        0,
        r#"
        generation 1
        Ready False Progressing "syncing 4f2c1e0 (wave 0)" since t0 (generation 1)
        Reconciling True Progressing "syncing 4f2c1e0 (wave 0)" since t0 (generation 1)
        sync OutOfSync 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web OutOfSync Healthy
        operation Running
        inventory 2
    "#,
    );
}

#[test]
fn a_succeeded_operation_is_recorded_in_history_once_and_not_again_on_later_reconciles() {
    let running = ReconcileOutcome {
        operation: Some(operation(OperationPhase::Running, 0, None)),
        initiated_by: automated(),
        ..healthy()
    };
    let first = compute_status(None, &running, &t(0));
    let succeeded = ReconcileOutcome {
        operation: Some(operation(OperationPhase::Succeeded, 0, Some(20))),
        ..running
    };
    let expected = r#"
        generation 1
        Ready True Synced "in sync at 4f2c1e0 and healthy" since t20 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Healthy
        operation Succeeded
        history 0 4f2c1e0 deployed t20 started t0 automated true
        inventory 2
    "#;
    let done = check(Some(&first), &succeeded, 20, expected);
    // The next periodic reconcile runs no operation: the succeeded one stays, recorded once.
    let later = check(Some(&done), &healthy(), 300, expected);
    assert_eq!(later, done);
}

#[test]
fn a_succeeded_dry_run_is_not_recorded_in_history() {
    let mut op = operation(OperationPhase::Succeeded, 0, Some(5));
    op.operation.dry_run = true;
    let outcome = ReconcileOutcome {
        operation: Some(op),
        ..healthy()
    };
    let status = compute_status(None, &outcome, &t(5));
    assert!(status.history.is_empty());
    assert_eq!(compute_status(Some(&status), &outcome, &t(6)), status);
}

#[test]
fn history_keeps_the_newest_ten_entries() {
    let entries = (0..10)
        .map(|id| RevisionHistory {
            id,
            revision: NEXT_SHA.to_string(),
            deployed_at: t(id),
            deploy_started_at: Some(t(id)),
            initiated_by: None,
        })
        .collect();
    let previous = ApplicationStatus {
        history: entries,
        ..ApplicationStatus::default()
    };
    let outcome = ReconcileOutcome {
        operation: Some(operation(OperationPhase::Succeeded, 100, Some(120))),
        ..healthy()
    };
    let status = check(
        Some(&previous),
        &outcome,
        120,
        r#"
        generation 1
        Ready True Synced "in sync at 4f2c1e0 and healthy" since t120 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-settings Synced -
        resource apps/v1 Deployment web/web Synced Healthy
        operation Succeeded
        history 1 89abcde deployed t1 started t1 automated false
        history 2 89abcde deployed t2 started t2 automated false
        history 3 89abcde deployed t3 started t3 automated false
        history 4 89abcde deployed t4 started t4 automated false
        history 5 89abcde deployed t5 started t5 automated false
        history 6 89abcde deployed t6 started t6 automated false
        history 7 89abcde deployed t7 started t7 automated false
        history 8 89abcde deployed t8 started t8 automated false
        history 9 89abcde deployed t9 started t9 automated false
        history 10 4f2c1e0 deployed t120 started t100 automated false
        inventory 2
    "#,
    );
    assert_eq!(status.history.len(), HISTORY_LIMIT);
}

#[test]
fn last_transition_time_stays_when_only_the_message_changes() {
    let rollout = |message: &str| {
        compared(vec![deployment(
            SyncStatus::Synced,
            HealthStatus::Progressing,
            message,
        )])
    };
    let first = compute_status(None, &rollout("1 of 3 replicas updated"), &t(0));
    check(
        Some(&first),
        &rollout("2 of 3 replicas updated"),
        10,
        r#"
        generation 1
        Ready False Progressing "Deployment web/web: 2 of 3 replicas updated" since t0 (generation 1)
        Reconciling True Progressing "Deployment web/web: 2 of 3 replicas updated" since t0 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Progressing "Deployment web/web: 2 of 3 replicas updated"
        resource apps/v1 Deployment web/web Synced Progressing
        inventory 1
    "#,
    );
}

#[test]
fn last_transition_time_moves_when_the_status_changes_and_reconciling_goes_away() {
    let rollout = compared(vec![deployment(
        SyncStatus::Synced,
        HealthStatus::Progressing,
        "1 of 3 replicas updated",
    )]);
    let first = compute_status(None, &rollout, &t(0));
    let done = compared(vec![deployment(
        SyncStatus::Synced,
        HealthStatus::Healthy,
        "",
    )]);
    check(
        Some(&first),
        &done,
        10,
        r#"
        generation 1
        Ready True Synced "in sync at 4f2c1e0 and healthy" since t10 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource apps/v1 Deployment web/web Synced Healthy
        inventory 1
    "#,
    );
}

#[test]
fn an_object_that_requires_pruning_makes_the_application_out_of_sync_but_not_unhealthy() {
    let mut legacy = object(
        entry("", "ConfigMap", "web", "web-legacy"),
        SyncStatus::Synced,
        Some(HealthStatus::Degraded),
        "",
    );
    legacy.requires_pruning = true;
    let outcome = compared(vec![
        deployment(SyncStatus::Synced, HealthStatus::Healthy, ""),
        legacy,
    ]);
    check(
        None,
        &outcome,
        0,
        r#"
        generation 1
        Ready False OutOfSync "1 of 2 resources out of sync (1 requires pruning)" since t0 (generation 1)
        sync OutOfSync 4f2c1e0 "web: raise replicas to 3"
        health Healthy ""
        resource /v1 ConfigMap web/web-legacy Synced Degraded requires pruning
        resource apps/v1 Deployment web/web Synced Healthy
        inventory 2
    "#,
    );
}

#[test]
fn suspended_health_counts_as_ready() {
    let cron = object(
        entry("batch", "CronJob", "web", "nightly"),
        SyncStatus::Synced,
        Some(HealthStatus::Suspended),
        "suspended",
    );
    check(
        None,
        &compared(vec![cron]),
        0,
        r#"
        generation 1
        Ready True Synced "in sync at 4f2c1e0; suspended: CronJob web/nightly: suspended" since t0 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Suspended "CronJob web/nightly: suspended"
        resource batch/v1 CronJob web/nightly Synced Suspended
        inventory 1
    "#,
    );
}

#[test]
fn a_degraded_object_of_a_synced_application_fails_the_health_check_without_stalling() {
    let outcome = compared(vec![
        deployment(
            SyncStatus::Synced,
            HealthStatus::Degraded,
            "progress deadline exceeded",
        ),
        object(
            entry("", "Namespace", "", "web"),
            SyncStatus::Synced,
            Some(HealthStatus::Healthy),
            "",
        ),
    ]);
    check(
        None,
        &outcome,
        0,
        r#"
        generation 1
        Ready False HealthCheckFailed "health Degraded: Deployment web/web: progress deadline exceeded" since t0 (generation 1)
        sync Synced 4f2c1e0 "web: raise replicas to 3"
        health Degraded "Deployment web/web: progress deadline exceeded"
        resource /v1 Namespace /web Synced Healthy
        resource apps/v1 Deployment web/web Synced Degraded
        inventory 2
    "#,
    );
}
