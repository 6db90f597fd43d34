//! The reconcile driver: read the source credentials → render the revision → prepare → compare
//! with the shared caches → sync when the policy says so → status from the pure
//! `compute_status`, patched only when it changed. Every stage's failure becomes part of the
//! outcome (and so of status, with its reason) instead of an error that loops.

use std::sync::Arc;
use std::time::Duration;

use capstan_api::application::{Application, InitiatedBy};
use capstan_api::{Operation, OperationPhase};
use capstan_core::app_status::{CommitSummary, Failure, ReconcileOutcome, compute_status};
use capstan_core::inventory::Inventory;
use capstan_core::tracking::AppId;
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use crate::context::Context;
use crate::stages::{self, Synced};

/// How soon a reconcile that failed in an unexpected way (writing status) runs again.
const ERROR_REQUEUE: Duration = Duration::from_secs(5);

/// Why a reconcile could not even report: the status patch failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Application has no namespace or name.
    #[error("the Application has no namespace or name")]
    Unnamed,
    /// Writing the status failed.
    #[error("failed to write the status of application {app}")]
    Status {
        /// The application.
        app: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Reconciles one Application.
#[tracing::instrument(skip_all, fields(app = %app.metadata.name.as_deref().unwrap_or_default()))]
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(name)) = (&app.metadata.namespace, &app.metadata.name) else {
        return Err(ReconcileError::Unnamed);
    };
    let id = AppId::parse(&format!("{namespace}/{name}")).map_err(|_| ReconcileError::Unnamed)?;
    let (outcome, requeue) = pipeline(&ctx, &app, &id).await;
    let status = compute_status(app.status.as_ref(), &outcome, &stages::now());
    if app.status.as_ref() != Some(&status) {
        let body = json!({"status": status});
        Api::<Application>::namespaced(ctx.client.clone(), namespace)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|source| ReconcileError::Status {
                app: id.to_string(),
                source,
            })?;
    }
    Ok(Action::requeue(requeue))
}

/// The stages, in order; returns what status needs and when to look again.
async fn pipeline(ctx: &Context, app: &Application, id: &AppId) -> (ReconcileOutcome, Duration) {
    let refresh = app
        .spec
        .refresh_interval()
        .unwrap_or(Duration::from_secs(180));
    let mut outcome = ReconcileOutcome {
        generation: app.metadata.generation,
        suspended: app.spec.suspend,
        ..ReconcileOutcome::default()
    };
    if app.spec.suspend {
        return (outcome, refresh);
    }
    let previous = previous_inventory(app);
    let result: Result<Option<Synced>, Failure> = async {
        let creds = stages::credentials(ctx, app).await?;
        let rendered = stages::render(ctx, app, &creds).await?;
        let sha = rendered.commit.sha.clone();
        outcome.commit = Some(CommitSummary {
            sha: sha.clone(),
            subject: rendered.commit.subject.clone(),
        });
        let prepared = stages::prepared(ctx, app, id, rendered.objects).await?;
        let (live, comparison) = stages::compare(ctx, id, &prepared, &previous).await?;
        let objects = stages::object_states(&prepared, &live, &comparison);
        let out_of_sync = objects
            .iter()
            .any(|o| o.sync != capstan_api::SyncStatus::Synced);
        outcome.objects = Some(objects);
        match automated_sync(app, &sha, out_of_sync) {
            Some(operation) => {
                let started = stages::now();
                let parts = (prepared, live, comparison);
                let synced =
                    stages::sync(ctx, app, id, parts, &previous, operation, &sha, started).await?;
                Ok(Some(synced))
            }
            None => Ok(None),
        }
    }
    .await;
    match result {
        Ok(Some(Synced {
            operation,
            inventory,
            requeue,
        })) => {
            outcome.operation = Some(operation);
            outcome.initiated_by = Some(InitiatedBy {
                username: String::new(),
                automated: true,
            });
            outcome.inventory = Some(inventory);
            (outcome, requeue.unwrap_or(refresh))
        }
        Ok(None) => (outcome, refresh),
        Err(failure) => {
            let after = if failure.retryable {
                ERROR_REQUEUE
            } else {
                refresh
            };
            outcome.failure = Some(failure);
            (outcome, after)
        }
    }
}

/// The sync an automated policy asks for now: when something is out of sync and either
/// self-heal is on or this revision was not synced yet (one automated attempt per revision).
fn automated_sync(app: &Application, revision: &str, out_of_sync: bool) -> Option<Operation> {
    let automated = app.spec.sync_policy.as_ref()?.automated.as_ref()?;
    let last = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    let attempted = last.is_some_and(|op| {
        op.phase != OperationPhase::Running
            && op
                .sync_result
                .as_ref()
                .is_some_and(|r| r.revision == revision)
    });
    let running = last.is_some_and(|op| op.phase == OperationPhase::Running);
    (out_of_sync && (automated.self_heal || !attempted) || running).then(|| Operation {
        revision: revision.to_owned(),
        prune: automated.prune,
        dry_run: false,
        sync_options: Vec::new(),
    })
}

/// The inventory the Application's status keeps.
fn previous_inventory(app: &Application) -> Inventory {
    let entries = app
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    Inventory::from_entries(entries).unwrap_or_default()
}

/// What to do after a reconcile failed to report.
fn error_policy(_app: Arc<Application>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed");
    Action::requeue(ERROR_REQUEUE)
}

/// Runs the Application controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let applications: Api<Application> = Api::all(ctx.client.clone());
    Controller::new(applications, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(err) = result {
                tracing::debug!(error = %err, "reconcile not run");
            }
            futures::future::ready(())
        })
        .await;
}
