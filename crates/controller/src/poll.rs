//! The repository poll: private clusters receive no webhooks, so this is how most commits are
//! noticed. Every interval, one check per (repository, credentials, revision) in use — shared by
//! every Application that uses it — asks the git cache what the revision points at (a ref
//! listing; a fetch only when it moved), and wakes each Application whose last compared commit
//! is not that one. Each tick also recounts the Applications by sync and health for the metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_api::application::Application;
use capstan_api::{HealthStatus, SyncStatus};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;

use crate::context::Context;
use crate::stages;

/// The default time between two checks of a repository.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// What one check is shared by: repository, namespace and name of the credentials' Secret, and
/// revision.
type Check = (String, String, Option<String>, String);

/// Checks every repository in use each `interval`, until `wake`'s receiver is gone; sends the
/// Applications whose source moved.
pub async fn run(
    ctx: Arc<Context>,
    applications: Store<Application>,
    wake: mpsc::Sender<ObjectRef<Application>>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        ctx.metrics.set_applications(&statuses(&applications));
        for moved in moved(&ctx, &applications).await {
            if wake.send(moved).await.is_err() {
                return;
            }
        }
    }
}

/// The Applications whose revision now points elsewhere than the commit they last compared.
async fn moved(ctx: &Context, applications: &Store<Application>) -> Vec<ObjectRef<Application>> {
    let mut checks: BTreeMap<Check, Vec<Arc<Application>>> = BTreeMap::new();
    for app in applications.state() {
        // Another replica checks the Applications of the shards this one does not hold.
        if app.spec.suspend || app.metadata.deletion_timestamp.is_some() || !ctx.shards.owns(&app) {
            continue;
        }
        let source = &app.spec.source;
        let check = (
            source.repo_url.clone(),
            app.metadata.namespace.clone().unwrap_or_default(),
            source.secret_ref.as_ref().map(|s| s.name.clone()),
            source.target_revision().to_owned(),
        );
        checks.entry(check).or_default().push(app);
    }
    let mut out = Vec::new();
    for ((url, _, _, revision), apps) in checks {
        let Ok(creds) = stages::credentials(ctx, &apps[0]).await else {
            continue;
        };
        let Ok(resolved) = ctx.git.resolve(&url, &creds, &revision).await else {
            continue;
        };
        let sha = resolved.commit.sha;
        out.extend(
            apps.iter()
                .filter(|app| last_commit(app) != Some(sha.as_str()))
                .map(|app| ObjectRef::from_obj(app.as_ref())),
        );
    }
    out
}

/// Each Application's sync and health, for the `capstan_applications` gauge (recounted on every
/// tick of the poll).
fn statuses(applications: &Store<Application>) -> Vec<(SyncStatus, HealthStatus)> {
    applications
        .state()
        .iter()
        .map(|app| {
            let status = app.status.as_ref();
            let sync = status
                .and_then(|s| s.sync.as_ref())
                .map_or(SyncStatus::Unknown, |s| s.status);
            let health = status
                .and_then(|s| s.health.as_ref())
                .map_or(HealthStatus::Unknown, |h| h.status);
            (sync, health)
        })
        .collect()
}

/// The commit an Application last compared, from its status.
fn last_commit(app: &Application) -> Option<&str> {
    app.status.as_ref()?.sync.as_ref()?.revision.as_deref()
}
