//! The readable detail of one Application (`capstan get application NAME`), like `kubectl
//! describe`: source, destination and policy, sync and health, conditions, resources, the pending
//! request, the last operation with each object's result, and the history of syncs. Pure.

use std::fmt::Write as _;

use capstan_api::application::{ApplicationStatus, InitiatedBy, SyncOperation};
use capstan_api::{Application, Operation, OperationState, ResultStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{age, one_line, or_none, short_revision, table};

/// The detail of `app`, ages counted to `now`.
pub fn detail(app: &Application, now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &app.metadata;
    let source = &app.spec.source;
    let destination = &app.spec.destination;
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{:<14}{value}", format!("{name}:"));
    };
    field("Name", or_none(meta.name.as_deref()));
    field("Namespace", or_none(meta.namespace.as_deref()));
    field("Created", time(meta.creation_timestamp.as_ref(), now));
    field("Repository", source.repo_url.clone());
    field("Path", source.path.clone().unwrap_or_else(|| ".".into()));
    field("Target", source.target_revision().to_owned());
    field(
        "Destination",
        format!(
            "namespace {}, service account {}",
            destination
                .namespace
                .as_deref()
                .or(meta.namespace.as_deref())
                .unwrap_or("<none>"),
            destination
                .service_account_name
                .as_deref()
                .unwrap_or("<controller default>")
        ),
    );
    field("Sync policy", policy(app));
    if app.spec.suspend {
        field(
            "Suspended",
            "yes: nothing is fetched, compared or synced".into(),
        );
    }
    let status = app.status.clone().unwrap_or_default();
    field("Sync", sync_line(&status));
    field("Health", health_line(&status));
    if !status.waiting_for.is_empty() {
        let names: Vec<String> = status
            .waiting_for
            .iter()
            .map(|r| match &r.namespace {
                Some(ns) => format!("{ns}/{}", r.name),
                None => r.name.clone(),
            })
            .collect();
        field("Waiting for", names.join(", "));
    }
    if let Some(operation) = &app.operation {
        let request = operation
            .sync
            .as_ref()
            .map_or_else(|| "nothing (no sync)".to_owned(), request_summary);
        field(
            "Pending sync",
            format!("{request}, by {}", initiator(&operation.initiated_by)),
        );
    }
    conditions(&mut out, &status, now);
    resources(&mut out, &status);
    if let Some(state) = &status.operation_state {
        last_operation(&mut out, state, now);
    }
    history(&mut out, &status, now);
    out
}

/// What a sync request asks, in a few words: `revision v1.2, prune, dry run, sync options …`.
pub fn request_summary(sync: &SyncOperation) -> String {
    let mut parts = vec![format!(
        "revision {}",
        sync.revision.as_deref().unwrap_or("(the target)")
    )];
    match sync.prune {
        Some(true) => parts.push("prune".into()),
        Some(false) => parts.push("no prune".into()),
        None => {}
    }
    if sync.dry_run {
        parts.push("dry run".into());
    }
    if !sync.sync_options.is_empty() {
        parts.push(format!("sync options {}", sync.sync_options.join(" ")));
    }
    parts.join(", ")
}

/// What an operation was asked (resolved against the spec), in a few words.
fn operation_summary(operation: &Operation) -> String {
    request_summary(&SyncOperation {
        revision: Some(operation.revision.clone()),
        prune: Some(operation.prune),
        dry_run: operation.dry_run,
        sync_options: operation.sync_options.clone(),
    })
}

/// The phase of an operation with its reason and message: `Failed (ApplyFailed): …`.
pub fn phase_line(state: &OperationState) -> String {
    let mut line = state.phase.as_str().to_owned();
    if let Some(reason) = state.reason {
        let _ = write!(line, " ({reason})");
    }
    if !state.message.is_empty() {
        let _ = write!(line, ": {}", one_line(&state.message));
    }
    line
}

/// The per-object results of an operation (only the failed ones when `failed_only`), as a table
/// indented by `indent`; empty when there are none.
pub fn results_table(state: &OperationState, failed_only: bool, indent: &str) -> String {
    let results = state.sync_result.iter().flat_map(|r| &r.resources);
    let mut rows = vec![header(&[
        "GROUP",
        "KIND",
        "NAMESPACE",
        "NAME",
        "RESULT",
        "ACTION",
        "MESSAGE",
    ])];
    for result in results {
        if failed_only && result.status != ResultStatus::SyncFailed {
            continue;
        }
        let object = &result.object;
        let mut message = result.reason.map(|r| r.to_string()).unwrap_or_default();
        if !result.message.is_empty() {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&one_line(&result.message));
        }
        rows.push(vec![
            object.group.clone(),
            object.kind.clone(),
            object.namespace.clone(),
            object.name.clone(),
            result.status.to_string(),
            result.action.map(|a| a.to_string()).unwrap_or_default(),
            message,
        ]);
    }
    if rows.len() == 1 {
        return String::new();
    }
    table(&rows, indent)
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn time(time: Option<&Time>, now: Timestamp) -> String {
    match time {
        Some(t) => format!("{} ({} ago)", t.0, age(Some(t), now)),
        None => "<unknown>".to_owned(),
    }
}

fn policy(app: &Application) -> String {
    let policy = app.spec.sync_policy.clone().unwrap_or_default();
    let mut text = match policy.automated {
        Some(auto) => {
            let mut flags = Vec::new();
            for (on, name) in [
                (auto.prune, "prune"),
                (auto.self_heal, "self-heal"),
                (auto.allow_empty, "allow empty"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            if flags.is_empty() {
                "automated".to_owned()
            } else {
                format!("automated ({})", flags.join(", "))
            }
        }
        None => "manual (capstan sync)".to_owned(),
    };
    if !policy.sync_options.is_empty() {
        let _ = write!(text, "; options {}", policy.sync_options.join(" "));
    }
    text
}

fn sync_line(status: &ApplicationStatus) -> String {
    let Some(sync) = &status.sync else {
        return "<none> (not compared yet)".to_owned();
    };
    let mut line = sync.status.to_string();
    if let Some(revision) = &sync.revision {
        let _ = write!(line, " at {}", short_revision(revision));
    }
    if let Some(subject) = &sync.subject {
        let _ = write!(line, " ({})", one_line(subject));
    }
    line
}

fn health_line(status: &ApplicationStatus) -> String {
    match &status.health {
        Some(health) if health.message.is_empty() => health.status.to_string(),
        Some(health) => format!("{}: {}", health.status, one_line(&health.message)),
        None => "<none>".to_owned(),
    }
}

fn initiator(by: &InitiatedBy) -> String {
    match (by.automated, by.username.as_str()) {
        (true, _) => "automated".to_owned(),
        (false, "") => "<unknown>".to_owned(),
        (false, user) => user.to_owned(),
    }
}

fn conditions(out: &mut String, status: &ApplicationStatus, now: Timestamp) {
    out.push_str("\nConditions:\n");
    if status.conditions.is_empty() {
        out.push_str("  <none>\n");
        return;
    }
    let mut rows = vec![header(&["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"])];
    for c in &status.conditions {
        rows.push(vec![
            c.type_.to_string(),
            c.status.to_string(),
            c.reason.to_string(),
            age(Some(&c.last_transition_time), now),
            one_line(&c.message),
        ]);
    }
    out.push_str(&table(&rows, "  "));
}

fn resources(out: &mut String, status: &ApplicationStatus) {
    out.push_str("\nResources:\n");
    if status.resources.is_empty() {
        out.push_str("  <none>\n");
        return;
    }
    let mut rows = vec![header(&[
        "GROUP",
        "KIND",
        "NAMESPACE",
        "NAME",
        "SYNC",
        "HEALTH",
        "PRUNE",
    ])];
    for r in &status.resources {
        rows.push(vec![
            r.group.clone(),
            r.kind.clone(),
            r.namespace.clone(),
            r.name.clone(),
            r.status.to_string(),
            r.health.map(|h| h.to_string()).unwrap_or_default(),
            if r.requires_pruning { "required" } else { "" }.to_owned(),
        ]);
    }
    out.push_str(&table(&rows, "  "));
}

fn last_operation(out: &mut String, state: &OperationState, now: Timestamp) {
    out.push_str("\nLast operation:\n");
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {:<12}{value}", format!("{name}:"));
    };
    field("Phase", phase_line(state));
    field("Asked", operation_summary(&state.operation));
    field("Started", time(Some(&state.started_at), now));
    if let Some(finished) = &state.finished_at {
        field("Finished", time(Some(finished), now));
    }
    match (state.wave, state.step) {
        (Some(wave), Some(step)) => field("Reached", format!("wave {wave}, step {step}")),
        (Some(wave), None) => field("Reached", format!("wave {wave}")),
        _ => {}
    }
    if state.retry_count > 0 {
        field("Retries", state.retry_count.to_string());
    }
    if let Some(result) = &state.sync_result {
        field("Revision", result.revision.clone());
    }
    let results = results_table(state, false, "    ");
    if !results.is_empty() {
        out.push_str("  Results:\n");
        out.push_str(&results);
    }
}

fn history(out: &mut String, status: &ApplicationStatus, now: Timestamp) {
    out.push_str("\nHistory:\n");
    if status.history.is_empty() {
        out.push_str("  <none>\n");
        return;
    }
    let mut rows = vec![header(&["ID", "REVISION", "DEPLOYED", "INITIATED BY"])];
    for entry in status.history.iter().rev() {
        rows.push(vec![
            entry.id.to_string(),
            short_revision(&entry.revision).to_owned(),
            format!("{} ago", age(Some(&entry.deployed_at), now)),
            entry
                .initiated_by
                .as_ref()
                .map_or_else(|| "<unknown>".to_owned(), initiator),
        ]);
    }
    out.push_str(&table(&rows, "  "));
}
