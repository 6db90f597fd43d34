//! What syncing an Application would change, without changing anything: its source resolved
//! with its own Secret and rendered at its target revision, its objects prepared under its
//! tracking id, and compared with the live cluster and against its inventory — so objects a
//! prune would delete show too. The stages are a reconcile's own ([`crate::stages`]), so the
//! answer is the controller's; only the live objects are read with LISTs and GETs instead of the
//! shared watch caches (`capstan diff --app` is one call, not a long-running process).
//!
//! Every read and dry-run is made with the context's client (or, when the context impersonates,
//! the Application's service account, as a reconcile's compare is): on the command line that is
//! the user's own identity, so a user sees only what they may read.

use capstan_api::Reason;
use capstan_api::application::Application;
use capstan_cluster::compare::{Differences, differences};
use capstan_core::app_status::Failure;
use capstan_core::inventory::{Inventory, InventoryError};
use capstan_git::CommitInfo;

use crate::context::Context;
use crate::stages;

/// What a sync of an Application would change.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The commit its target revision resolved to, which was rendered.
    pub commit: CommitInfo,
    /// Changed or missing objects, then the owned objects of its inventory a prune would
    /// delete.
    pub differences: Differences,
}

/// Why an Application could not be compared. Every message names the Application.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The Application has no namespace or name.
    #[error("the Application has no namespace or name")]
    Unnamed,
    /// A stage of the reconcile failed: credentials, render or prepare (the message names the
    /// Secret, the path and commit, or the object).
    #[error("application {app}: {message}")]
    Stage {
        /// The application, `namespace/name`.
        app: String,
        /// Why, as a reconcile reports it.
        reason: Reason,
        /// What failed.
        message: String,
    },
    /// The inventory in the Application's status cannot be read.
    #[error("application {app}: status.inventory: {source}")]
    Inventory {
        /// The application, `namespace/name`.
        app: String,
        /// The malformed entry.
        #[source]
        source: InventoryError,
    },
    /// No client could be made for the Application's service account.
    #[error("application {app}: cannot make a client for its service account: {source}")]
    Client {
        /// The application, `namespace/name`.
        app: String,
        /// The failure.
        #[source]
        source: kube::Error,
    },
    /// The objects could not be compared with the cluster.
    #[error("application {app}: failed to compare with the cluster: {source}")]
    Compare {
        /// The application, `namespace/name`.
        app: String,
        /// The cluster failure.
        #[source]
        source: capstan_cluster::ClusterError,
    },
}

impl PreviewError {
    /// Why, in the bounded terms of conditions and metrics.
    pub fn reason(&self) -> Reason {
        match self {
            PreviewError::Unnamed => Reason::InvalidManifest,
            PreviewError::Stage { reason, .. } => *reason,
            PreviewError::Inventory { .. } => Reason::InventoryReadFailed,
            PreviewError::Client { .. } => Reason::Unauthorized,
            PreviewError::Compare { source, .. } => source.reason(),
        }
    }
}

/// What a sync of `app` to its target revision would change in the cluster.
#[tracing::instrument(skip_all, fields(app = ?app.metadata.name))]
pub async fn preview(ctx: &Context, app: &Application) -> Result<Preview, PreviewError> {
    let id = stages::app_id(app).ok_or(PreviewError::Unnamed)?;
    let name = id.to_string();
    let stage = |failure: Failure| PreviewError::Stage {
        app: name.clone(),
        reason: failure.reason,
        message: failure.message,
    };
    let entries = app
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    let previous = Inventory::from_entries(entries).map_err(|source| PreviewError::Inventory {
        app: name.clone(),
        source,
    })?;
    let creds = stages::credentials(ctx, app).await.map_err(stage)?;
    let rendered = stages::render(ctx, app, &creds, None, true)
        .await
        .map_err(stage)?;
    let prepared = stages::prepared(ctx, app, &id, rendered.objects)
        .await
        .map_err(stage)?;
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let account = app.spec.destination.service_account_name.as_deref();
    let client = ctx
        .writer(namespace, account)
        .map_err(|source| PreviewError::Client {
            app: name.clone(),
            source,
        })?;
    let catalog = ctx.catalog.read().await;
    // The Application's `ignoreDifferences`, as a reconcile's compare applies them.
    let rules = stages::ignore_rules(app);
    let differences = differences(
        &client,
        &catalog,
        &prepared,
        &previous,
        &id,
        &rules,
        ctx.parallelism,
    )
    .await
    .map_err(|source| PreviewError::Compare { app: name, source })?;
    Ok(Preview {
        commit: rendered.commit,
        differences,
    })
}
