//! `capstan sync NAME`: requests a sync of an Application by writing its top-level `operation`
//! (the contract of `docs/application.md`): `initiatedBy.username` is the user as the API server
//! knows them, `sync` what the flags ask. A request already pending is never overwritten: the
//! write is conditioned on the `resourceVersion` read, and refused when one is there.
//!
//! With `--wait` the command watches the Application (a kube-runtime watcher, no polling) until
//! the controller has taken this request (cleared or replaced `operation`) and recorded a
//! finished `status.operationState` other than the one seen before the request; it prints the
//! phase and each failed object, and exits 0 only on `Succeeded`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use capstan_api::application::{ApplicationOperation, InitiatedBy, SyncOperation};
use capstan_api::{Application, OperationPhase, OperationState};
use capstan_core::options::SyncOptions;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::json;

use crate::connect::{self, ConnectArgs, Connection};
use crate::get::detail::{phase_line, request_summary, results_table};
use crate::target::{self, parse_duration};

/// The field manager of the CLI's writes to an Application (`operation`, the refresh
/// annotation): not the controller's `capstan`, so `managedFields` tells them apart.
pub const FIELD_MANAGER: &str = "capstan-cli";

/// Arguments of `capstan sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Application's name.
    name: String,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Delete objects that left the desired set (default: the Application's
    /// `syncPolicy.automated.prune`).
    #[arg(long)]
    prune: bool,
    /// Only report what the sync would do (server-side dry runs); the controller changes
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// A sync option for this sync, overriding the spec's of the same name: `PruneLast=true`,
    /// `ApplyOutOfSyncOnly=true`, … (repeatable).
    #[arg(long = "sync-option", value_name = "NAME=VALUE")]
    sync_options: Vec<String>,
    /// The branch, tag or commit to sync, for this sync only (default: the Application's
    /// `targetRevision`).
    #[arg(long)]
    revision: Option<String>,
    /// Wait for the sync to finish; exit 0 only when it succeeded.
    #[arg(long)]
    wait: bool,
    /// With --wait, how long to wait (90s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration, requires = "wait")]
    timeout: Duration,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    match target::runtime().and_then(|rt| rt.block_on(sync(args))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Requests the sync and, with `--wait`, waits for it; true when the command succeeded.
async fn sync(args: &Args) -> anyhow::Result<bool> {
    SyncOptions::parse(
        args.sync_options.iter().map(String::as_str),
        "--sync-option",
    )?;
    let cluster = connect::connect(&args.connect).await?;
    let username = username(&cluster.client, &args.connect).await;
    let operation = ApplicationOperation {
        initiated_by: InitiatedBy {
            username,
            automated: false,
        },
        sync: Some(SyncOperation {
            revision: args.revision.clone(),
            prune: args.prune.then_some(true),
            dry_run: args.dry_run,
            sync_options: args.sync_options.clone(),
        }),
    };
    let before = request(&cluster, &args.name, &operation).await?;
    let app = format!("{}/{}", cluster.namespace, args.name);
    let asked = operation
        .sync
        .as_ref()
        .map(request_summary)
        .unwrap_or_default();
    println!("sync requested: application {app} ({asked})");
    if !args.wait {
        return Ok(true);
    }
    let previous = before.status.and_then(|s| s.operation_state);
    let state = wait(&cluster, &args.name, &operation, previous, args.timeout).await?;
    println!("sync of application {app}: {}", phase_line(&state));
    print!("{}", results_table(&state, true, "  "));
    Ok(state.phase == OperationPhase::Succeeded)
}

/// Writes `operation` unless one is pending, conditioned on the `resourceVersion` read; returns
/// the Application as it was before.
async fn request(
    cluster: &Connection,
    name: &str,
    operation: &ApplicationOperation,
) -> anyhow::Result<Application> {
    let app = cluster.application(name).await?;
    if let Some(pending) = &app.operation {
        let by = match pending.initiated_by.username.as_str() {
            "" => String::new(),
            user => format!(" (requested by {user})"),
        };
        bail!(
            "application {}/{name} already has a pending operation{by}; the controller clears it \
             when it starts the sync: wait for that, then sync again",
            cluster.namespace
        );
    }
    let patch = json!({
        "metadata": { "resourceVersion": app.metadata.resource_version },
        "operation": operation,
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match cluster
        .applications()
        .patch(name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(app),
        Err(kube::Error::Api(status)) if status.is_conflict() => Err(anyhow!(
            "application {}/{name} changed while the sync was requested (perhaps another \
             request); nothing was written: run the command again",
            cluster.namespace
        )),
        Err(err) => Err(cluster.explain(err, name, "request a sync of")),
    }
}

/// Waits until the controller has taken `operation` and finished an operation other than
/// `previous`; that operation's state.
async fn wait(
    cluster: &Connection,
    name: &str,
    operation: &ApplicationOperation,
    previous: Option<OperationState>,
    timeout: Duration,
) -> anyhow::Result<OperationState> {
    let finished = move |app: Option<&Application>| match app {
        None => true,
        Some(app) => finished(app, operation, previous.as_ref()).is_some(),
    };
    let waited = tokio::time::timeout(
        timeout,
        await_condition(cluster.applications(), name, finished),
    )
    .await;
    let app = format!("{}/{name}", cluster.namespace);
    match waited {
        Err(_) => {
            let pending = cluster.application(name).await?.operation.as_ref() == Some(operation);
            let hint = if pending {
                "the request is still pending: is the controller running, the Application \
                 suspended or waiting for dependencies?"
            } else {
                "the controller started the sync; `capstan get application` shows its progress"
            };
            bail!(
                "timed out after {} waiting for the sync of application {app}: {hint}",
                humantime(timeout)
            )
        }
        Ok(result) => {
            let app_now = result
                .context("failed to watch the application")?
                .ok_or_else(|| anyhow!("application {app} was deleted while waiting"))?;
            let state = app_now.status.and_then(|s| s.operation_state);
            state.ok_or_else(|| anyhow!("application {app} has no operation state"))
        }
    }
}

/// The finished operation state of `app` that answers `operation`: the request is no longer
/// pending (the controller clears it when it starts the sync, after recording a Running state)
/// and `status.operationState` is completed and not the one seen before the request.
pub fn finished<'a>(
    app: &'a Application,
    operation: &ApplicationOperation,
    previous: Option<&OperationState>,
) -> Option<&'a OperationState> {
    if app.operation.as_ref() == Some(operation) {
        return None;
    }
    let state = app.status.as_ref()?.operation_state.as_ref()?;
    (state.phase.is_completed() && Some(state) != previous).then_some(state)
}

/// The user to record in `initiatedBy`: who the API server says we are (`kubectl auth whoami`),
/// else the kubeconfig context's user, else `$USER`.
async fn username(client: &kube::Client, args: &ConnectArgs) -> String {
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await;
    let from_server = review.ok().and_then(|r| r.status?.user_info?.username);
    from_server
        .filter(|user| !user.is_empty())
        .or_else(|| connect::kubeconfig_user(args))
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default()
}

/// `90s`, `5m`, `1h30m`: how --timeout is written.
fn humantime(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut text = String::new();
    for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s")] {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use capstan_api::application::{ApplicationOperation, ApplicationSpec, InitiatedBy};
    use capstan_api::{Application, OperationState};
    use serde_json::json;

    use super::finished;

    fn state(phase: &str, started: &str) -> OperationState {
        serde_json::from_value(json!({
            "operation": { "revision": "main" }, "phase": phase, "startedAt": started,
        }))
        .expect("a state")
    }

    fn request(user: &str) -> ApplicationOperation {
        ApplicationOperation {
            initiated_by: InitiatedBy {
                username: user.into(),
                automated: false,
            },
            sync: Some(Default::default()),
        }
    }

    fn app(operation: Option<ApplicationOperation>, state: Option<OperationState>) -> Application {
        let spec: ApplicationSpec = serde_json::from_value(json!({
            "source": { "repoURL": "https://git.example.com/r.git" }, "destination": {},
        }))
        .expect("a spec");
        let mut app = Application::new("web", "capstan", spec);
        app.operation = operation;
        app.status = Some(Default::default());
        if let Some(status) = app.status.as_mut() {
            status.operation_state = state;
        }
        app
    }

    #[test]
    fn the_wait_ends_only_on_a_finished_state_newer_than_the_one_before_the_request() {
        let ours = request("jane");
        let before = state("Succeeded", "2026-01-02T03:00:00Z");
        let cases = [
            (
                "still pending",
                app(Some(ours.clone()), Some(before.clone())),
                false,
            ),
            (
                "taken, running",
                app(None, Some(state("Running", "2026-01-02T03:05:00Z"))),
                false,
            ),
            (
                "taken, the old state still there",
                app(None, Some(before.clone())),
                false,
            ),
            (
                "taken, failed",
                app(None, Some(state("Failed", "2026-01-02T03:05:00Z"))),
                true,
            ),
            (
                "taken, succeeded, another request pending",
                app(
                    Some(request("joe")),
                    Some(state("Succeeded", "2026-01-02T03:05:00Z")),
                ),
                true,
            ),
        ];
        for (name, app, done) in cases {
            assert_eq!(
                finished(&app, &ours, Some(&before)).is_some(),
                done,
                "{name}"
            );
        }
    }
}
