//! The stages of a reconcile, each one I/O step that either gives the next stage its input or a
//! `Failure` with its bounded reason: read the source credentials, render the revision, prepare
//! the objects, compare them with the live state from the shared caches, and run the sync's
//! stages that need no waiting.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use capstan_api::application::{
    Application, ApplicationReference, ConditionStatus, ConditionType, VerifyMode,
};
use capstan_api::{InventoryEntry, Operation, OperationState, Reason, SyncStatus};
use capstan_cluster::compare::{Comparison, Context as CompareContext, compare_app};
use capstan_cluster::observed::Observed;
use capstan_cluster::run::Run;
use capstan_cluster::step::{Progress, Step, step};
use capstan_cluster::{Prepared, SyncRequest, prepare};
use capstan_core::app_status::{Failure, ObjectState};
use capstan_core::diff::DiffState;
use capstan_core::ignore::IgnoreRule;
use capstan_core::inventory::{Inventory, Record};
use capstan_core::object::ObjectKey;
use capstan_core::options::SyncOptions;
use capstan_core::progress::{Cursor, Stage};
use capstan_core::tracking::AppId;
use capstan_git::{Credentials, TrustedKeys};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use serde_json::Value;

use crate::clusters::{Cluster, RemoteError};
use crate::context::Context;
use crate::source::{At, Rendered, SourceError, render_at};

/// A failure of a stage.
fn failure(reason: Reason, message: String, retryable: bool) -> Failure {
    Failure {
        reason,
        message,
        retryable,
    }
}

/// The credentials the Application's `secretRef` names, from its own namespace (never another).
pub async fn credentials(ctx: &Context, app: &Application) -> Result<Credentials, Failure> {
    let Some(secret_ref) = &app.spec.source.secret_ref else {
        return Ok(Credentials::none());
    };
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    if let Some(known) = ctx.known_credentials(namespace, &secret_ref.name) {
        return Ok(known);
    }
    let data = secret_data(ctx, namespace, &secret_ref.name)
        .await
        .map_err(|why| failure(Reason::InvalidCredentials, why, true))?;
    let credentials = Credentials::from_secret_data(&data).map_err(|err| {
        let why = format!("Secret {namespace}/{}: {err}", secret_ref.name);
        failure(Reason::InvalidCredentials, why, false)
    })?;
    ctx.keep_credentials(namespace, &secret_ref.name, &credentials);
    Ok(credentials)
}

/// The keys `spec.source.verify` trusts, from its Secret in the Application's own namespace;
/// `None` when the Application deploys unsigned commits too. Read at every reconcile that
/// renders, so a changed Secret counts at once.
pub async fn trusted_keys(
    ctx: &Context,
    app: &Application,
) -> Result<Option<TrustedKeys>, Failure> {
    let Some(verify) = &app.spec.source.verify else {
        return Ok(None);
    };
    match verify.mode {
        VerifyMode::Head => {}
    }
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let name = &verify.secret_ref.name;
    if let Some(keys) = ctx.known_trusted_keys(namespace, name) {
        return Ok(Some(keys));
    }
    let data = secret_data(ctx, namespace, name)
        .await
        .map_err(|why| failure(Reason::VerificationFailed, why, true))?;
    let keys = TrustedKeys::from_secret_data(&data).map_err(|err| {
        let why = format!("the trusted keys of Secret {namespace}/{name}: {err}");
        failure(Reason::VerificationFailed, why, false)
    })?;
    ctx.keep_trusted_keys(namespace, name, &keys);
    Ok(Some(keys))
}

/// The data of Secret `name` in `namespace`; the error says which Secret could not be read.
async fn secret_data(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = secrets
        .get(name)
        .await
        .map_err(|err| format!("cannot read Secret {namespace}/{name}: {err}"))?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, ByteString(v))| (k, v))
        .collect())
}

/// Takes the Application's `operation` (the sync request) off it once its result is in status:
/// a patch conditioned on `resource_version` (the one the status patch left), so a request
/// written meanwhile is never lost — it stays, and runs next. When something else changed the
/// Application meanwhile, the operation is read again and taken only if it is still the one
/// that ran. A controller stopped before this runs the request again, which is harmless.
pub async fn take_operation(
    ctx: &Context,
    app: &Application,
    resource_version: Option<String>,
) -> Result<(), kube::Error> {
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let api = Api::<Application>::namespaced(ctx.client.clone(), namespace);
    let mut version = resource_version;
    loop {
        let body = serde_json::json!({
            "metadata": {"resourceVersion": version},
            "operation": null,
        });
        let params = kube::api::PatchParams::default();
        match api
            .patch(name, &params, &kube::api::Patch::Merge(&body))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let now = api.get(name).await?;
                if now.operation != app.operation {
                    // A new request: it stays for the next reconcile.
                    return Ok(());
                }
                version = now.metadata.resource_version;
            }
            Err(err) => return Err(err),
        }
    }
}

/// The Applications this one depends on (`spec.dependsOn`) that are not Ready yet — missing
/// ones included.
pub async fn waiting_for(
    ctx: &Context,
    app: &Application,
) -> Result<Vec<ApplicationReference>, Failure> {
    let own_namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let mut waiting = Vec::new();
    for dependency in &app.spec.depends_on {
        let namespace = dependency.namespace.as_deref().unwrap_or(own_namespace);
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), namespace);
        let found = apps.get_opt(&dependency.name).await.map_err(|err| {
            let why = format!(
                "cannot read application {namespace}/{}: {err}",
                dependency.name
            );
            failure(Reason::ReadFailed, why, true)
        })?;
        let ready = found
            .as_ref()
            .and_then(|a| a.status.as_ref())
            .and_then(|s| s.condition(ConditionType::Ready))
            .is_some_and(|c| c.status == ConditionStatus::True);
        if !ready {
            waiting.push(dependency.clone());
        }
    }
    Ok(waiting)
}

/// Deletes every object of `app`'s inventory that `app` owns (checked on each object by
/// `delete_owned`); objects of kinds no longer served, and objects already gone, are skipped.
pub async fn delete_objects(ctx: &Context, app: &Application) -> Result<(), Failure> {
    let id = app_id(app).ok_or_else(|| {
        failure(
            Reason::InvalidManifest,
            "the Application has no name".into(),
            false,
        )
    })?;
    let entries = app
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    let inventory = Inventory::from_entries(entries)
        .map_err(|err| failure(Reason::InventoryReadFailed, err.to_string(), false))?;
    let cluster = cluster(ctx, app).await?;
    let writer = writer(ctx, &cluster, app)?;
    let error = |err: capstan_cluster::ClusterError| failure(err.reason(), err.to_string(), true);
    for (key, version) in inventory.iter() {
        let resolved = cluster
            .catalog()
            .resolve(&key.api_version(version), &key.kind)
            .await;
        let Some(resource) = resolved.map_err(error)? else {
            continue;
        };
        let Some(live) = capstan_cluster::live::get(&writer, key, &resource)
            .await
            .map_err(error)?
        else {
            continue;
        };
        let objects = capstan_cluster::live::api(&writer, &resource, &key.namespace);
        match capstan_cluster::delete::delete_owned(&objects, &id, key, &live).await {
            Ok(_) | Err(capstan_cluster::delete::DeleteError::NotOwned { .. }) => {}
            Err(err) => return Err(failure(err.reason(), err.to_string(), true)),
        }
    }
    Ok(())
}

/// Keeps the shared caches of `app`'s cluster watching the kinds of its inventory, without
/// reconciling it: a standby replica, or one holding other shards, takes it over with warm
/// caches. Done once per Application and synced revision (its inventory is read whole: the thin
/// copy lacks it), and tried again after a failure or while its inventory is empty; failures are
/// otherwise left to the reconcile that takes it over.
pub async fn warm(ctx: &Context, app: &Application) {
    let Some(id) = app_id(app) else {
        return;
    };
    let revision = app
        .status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.clone());
    let Some(revision) = revision else {
        return;
    };
    if !ctx.to_warm(id.as_str(), &revision) {
        return;
    }
    let warmed = warm_kinds(ctx, app).await;
    if !warmed {
        ctx.warm_failed(id.as_str());
    }
}

/// Starts the watches of the kinds `app`'s inventory holds; whether it did.
async fn warm_kinds(ctx: &Context, app: &Application) -> bool {
    let Ok(whole) = crate::thin::whole(&ctx.client, app).await else {
        return false;
    };
    let Some(status) = &whole.status else {
        return false;
    };
    let Ok(inventory) = Inventory::from_entries(status.inventory.clone()) else {
        return false;
    };
    if inventory.is_empty() {
        return false;
    }
    let Ok(cluster) = cluster(ctx, app).await else {
        return false;
    };
    let kinds: std::collections::BTreeSet<(String, String)> = inventory
        .iter()
        .map(|(key, version)| (key.api_version(version), key.kind.clone()))
        .collect();
    let mut resources = Vec::new();
    for (api_version, kind) in kinds {
        if let Ok(Some(resource)) = cluster.catalog().resolve(&api_version, &kind).await {
            resources.push(resource);
        }
    }
    if let Err(error) = cluster.live().warm(&resources).await {
        tracing::debug!(%error, "cannot warm the caches of an application not reconciled here");
        return false;
    }
    true
}

/// The Application's id, `namespace/name`, when it has both.
pub fn app_id(app: &Application) -> Option<AppId> {
    let (namespace, name) = (
        app.metadata.namespace.as_ref()?,
        app.metadata.name.as_ref()?,
    );
    AppId::parse(&format!("{namespace}/{name}")).ok()
}

/// The Application's objects at `revision` (default: its target revision). With `fresh`, the
/// revision is checked with the server now; otherwise a check by the same credentials within
/// the repository poll's interval (which keeps it fresh) is taken. With `spec.source.verify`, the
/// revision must be signed by a trusted key: a refusal names the commit and the signer, and the
/// commit deployed before, which stays.
pub async fn render(
    ctx: &Context,
    app: &Application,
    creds: &Credentials,
    revision: Option<&str>,
    fresh: bool,
) -> Result<Rendered, Failure> {
    let source = &app.spec.source;
    let path = source.path.as_deref().unwrap_or("");
    let options = capstan_render::Options::default();
    let keys = trusted_keys(ctx, app).await?;
    let at = At {
        revision: revision.unwrap_or_else(|| source.target_revision()),
        checked_within: if fresh {
            Duration::ZERO
        } else {
            ctx.poll_interval
        },
        renders: Some(&ctx.renders),
        verify: keys.as_ref(),
    };
    render_at(&ctx.git, &source.repo_url, creds, at, path, &options)
        .await
        .map_err(|err| {
            let mut message = err.to_string();
            if let SourceError::Verify { .. } = err
                && let Some(deployed) = deployed(app)
            {
                message.push_str(&format!("; commit {deployed} stays deployed"));
            }
            failure(err.reason(), message, err.is_retryable())
        })
}

/// The revision the Application's last successful sync deployed.
fn deployed(app: &Application) -> Option<&str> {
    let status = app.status.as_ref()?;
    status.history.last().map(|h| h.revision.as_str())
}

/// The commit `app`'s revision points at, from a check of the repository within the poll
/// interval (made now if there is none); `None` when it cannot be learnt (the render that follows
/// says why).
pub async fn recent_commit(
    ctx: &Context,
    app: &Application,
    creds: &Credentials,
) -> Option<String> {
    let source = &app.spec.source;
    let revision = source.target_revision();
    let resolved = ctx
        .git
        .resolve_within(&source.repo_url, creds, revision, ctx.poll_interval)
        .await;
    resolved.ok().map(|r| r.commit.sha)
}

/// What a compare of `app` at `commit` depends on, taken before it reads anything live; `None`
/// when it depends on more (an `ignoreDifferences` rule by field manager, which reads who owns
/// which field from the objects read whole, or a cluster that cannot be reached).
pub async fn quiet_inputs(
    ctx: &Context,
    app: &Application,
    id: &AppId,
    commit: &str,
) -> Option<crate::quiet::Inputs> {
    let ignored = &app.spec.ignore_differences;
    if ignored
        .iter()
        .any(|d| !d.managed_fields_managers.is_empty())
    {
        return None;
    }
    let cluster = cluster(ctx, app).await.ok()?;
    Some(crate::quiet::Inputs {
        application: app.metadata.resource_version.clone()?,
        commit: commit.to_owned(),
        live: cluster.live().version(id),
    })
}

/// The rendered objects prepared for the cluster: namespaces defaulted, tracking ids set.
pub async fn prepared(
    ctx: &Context,
    app: &Application,
    id: &AppId,
    objects: Vec<Value>,
) -> Result<Vec<Prepared>, Failure> {
    let options = sync_options(app)?;
    let cluster = cluster(ctx, app).await?;
    for object in &objects {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        // A kind the catalog does not know refreshes it (at most once per interval).
        let resolved = cluster.catalog().resolve(api_version, kind).await;
        resolved.map_err(|err| failure(err.reason(), err.to_string(), err.is_retryable()))?;
    }
    let namespace = destination_namespace(app);
    let catalog = cluster.catalog().read().await;
    prepare(objects, &catalog, &namespace, id, options)
        .map_err(|err| failure(err.reason(), err.to_string(), err.is_retryable()))
}

/// The comparison of the objects with the live state of the shared caches: objects their
/// projections show in sync are settled, every other one is read whole (an object an
/// `ignoreDifferences` rule selects always is).
pub async fn compare(
    ctx: &Context,
    app: &Application,
    id: &AppId,
    prepared: &[Prepared],
    previous: &Inventory,
) -> Result<(Observed, Comparison), Failure> {
    let error = |err: capstan_cluster::ClusterError| {
        failure(err.reason(), err.to_string(), err.is_retryable())
    };
    let cluster = cluster(ctx, app).await?;
    let rules = ignore_rules(app);
    let live = cluster
        .live()
        .observe(id, prepared, previous, &rules, ctx.parallelism)
        .await
        .map_err(error)?;
    let writer = writer(ctx, &cluster, app)?;
    let catalog = cluster.catalog().read().await;
    let cx = CompareContext {
        client: &writer,
        catalog: &catalog,
        app: id,
        rules: &rules,
        parallelism: ctx.parallelism,
        dry_run_missing: false,
    };
    let comparison = compare_app(&cx, prepared, &live, previous)
        .await
        .map_err(error)?;
    Ok((live, comparison))
}

/// The Application's `ignoreDifferences` as the engine's rules: fields left out of the compare,
/// and left as they are by a sync. An empty `group` is the core group, as in Argo CD.
pub fn ignore_rules(app: &Application) -> Vec<IgnoreRule> {
    app.spec
        .ignore_differences
        .iter()
        .map(|d| IgnoreRule {
            group: Some(d.group.clone()),
            kind: d.kind.clone(),
            name: d.name.clone(),
            namespace: d.namespace.clone(),
            json_pointers: d.json_pointers.clone(),
            managed_fields_managers: d.managed_fields_managers.clone(),
        })
        .collect()
}

/// The inventory with the fingerprints of the objects a compare found in sync by dry-run where
/// they differ from the recorded ones (a controller added `deployment.kubernetes.io/revision`
/// after the apply, say), so the next compare knows them unchanged without a dry-run; `None`
/// when nothing differs. Only objects already in the inventory are touched: a compare never
/// adds one.
pub fn refreshed_inventory(
    previous: &Inventory,
    prepared: &[Prepared],
    comparison: &Comparison,
) -> Option<Vec<InventoryEntry>> {
    let records: Vec<(ObjectKey, Record)> = prepared
        .iter()
        .zip(&comparison.compared)
        .filter(|(p, _)| previous.contains(&p.key))
        .filter_map(|(p, c)| {
            let found = c.in_sync.as_ref()?;
            (previous.applied(&p.key) != Some(found)).then(|| {
                let record = Record {
                    version: p.version().to_owned(),
                    applied: Some(found.clone()),
                };
                (p.key.clone(), record)
            })
        })
        .collect();
    if records.is_empty() {
        return None;
    }
    Some(previous.carry_over(records, &Default::default()).entries())
}

/// The cluster `app` deploys to: this one, or the one its `destination.kubeConfigSecretRef`
/// names (connected on first use).
pub async fn cluster<'a>(ctx: &'a Context, app: &Application) -> Result<Cluster<'a>, Failure> {
    let Some(secret) = crate::clusters::secret_of(app) else {
        return Ok(Cluster::Local(ctx));
    };
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    match ctx.remotes.get(&ctx.client, namespace, secret).await {
        Ok(remote) => Ok(Cluster::Remote(remote)),
        Err(err @ RemoteError::Secret { .. }) => {
            Err(failure(Reason::InvalidDestination, err.to_string(), false))
        }
        Err(RemoteError::Discovery { source, .. }) => {
            let why = format!("destination cluster of Secret {namespace}/{secret}: {source}");
            Err(failure(source.reason(), why, true))
        }
    }
}

/// The client `app`'s objects are compared (dry-run) and written with in `cluster`.
fn writer(
    ctx: &Context,
    cluster: &Cluster<'_>,
    app: &Application,
) -> Result<kube::Client, Failure> {
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let account = app.spec.destination.service_account_name.as_deref();
    cluster.writer(ctx, namespace, account).map_err(|err| {
        let why = format!("cannot make a client for the service account: {err}");
        failure(Reason::Unauthorized, why, false)
    })
}

/// Each object as status reports it: desired objects with their sync state and health, then
/// the owned objects that left the desired set and require pruning.
pub fn object_states(
    prepared: &[Prepared],
    live: &Observed,
    comparison: &Comparison,
) -> Vec<ObjectState> {
    let mut out: Vec<ObjectState> = prepared
        .iter()
        .zip(&comparison.compared)
        .map(|(p, c)| {
            let health = live.health(&p.key);
            ObjectState {
                object: p.key.entry(p.version()),
                sync: match c.diff.state {
                    DiffState::Unchanged => SyncStatus::Synced,
                    _ => SyncStatus::OutOfSync,
                },
                health: Some(
                    health
                        .as_ref()
                        .map_or(capstan_api::HealthStatus::Missing, |h| h.status),
                ),
                health_message: health.map(|h| h.message).unwrap_or_default(),
                requires_pruning: false,
            }
        })
        .collect();
    out.extend(comparison.departed.owned.iter().map(|l| ObjectState {
        object: l.key.entry(&l.resource.api.version),
        sync: SyncStatus::OutOfSync,
        health: None,
        health_message: String::new(),
        requires_pruning: true,
    }));
    out
}

/// What a sync of this reconcile did: the operation state, the inventory to keep, and how long
/// until the sync must be looked at again (when a stage waits).
pub struct Synced {
    /// The operation state for status.
    pub operation: OperationState,
    /// The inventory after the stages that ran (`None` after a dry run: unchanged).
    pub inventory: Option<Vec<InventoryEntry>>,
    /// Set when a stage waits: look again after this long.
    pub requeue: Option<Duration>,
}

/// Runs the sync's stages until one must wait, the sync is done, or it fails. Applying again
/// what was already applied costs nothing (the fingerprints skip it), so a sync that waited is
/// simply planned again from the next reconcile's comparison.
#[allow(clippy::too_many_arguments)]
pub async fn sync(
    ctx: &Context,
    app: &Application,
    id: &AppId,
    (prepared, live, comparison): (Vec<Prepared>, Observed, Comparison),
    previous: &Inventory,
    operation: Operation,
    revision: &str,
    started_at: Time,
) -> Result<Synced, Failure> {
    let automated = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref());
    // A requested sync's options (the request's over the spec's); an automated one's: the spec's.
    let options = if operation.sync_options.is_empty() {
        sync_options(app)?
    } else {
        SyncOptions::parse(
            operation.sync_options.iter().map(String::as_str),
            "operation.sync.syncOptions",
        )
        .map_err(|err| failure(Reason::InvalidManifest, err.to_string(), false))?
    };
    let request = SyncRequest {
        options,
        prune: operation.prune,
        allow_empty: automated.is_some_and(|a| a.allow_empty),
        parallelism: ctx.parallelism,
        ignore: ignore_rules(app),
        ..SyncRequest::new(id, &destination_namespace(app))
    };
    let mut run = Run::from_comparison(prepared, live.whole, comparison, previous, &request)
        .map_err(|err| failure(err.reason(), err.to_string(), err.is_retryable()))?;
    let mut progress = Progress::start(&run, SystemTime::now());
    if operation.dry_run {
        // What a sync would do, from the comparison; nothing changes, the inventory stays.
        progress.outcome.objects.extend(run.dry_run());
        progress.cursor = Cursor {
            wave: run.plan.waves.len(),
            stage: Stage::Done,
        };
        let state = progress.operation_state(&run, operation, revision, started_at, now());
        return Ok(Synced {
            operation: state,
            inventory: None,
            requeue: None,
        });
    }
    // Every write is made as the Application's service account, never as the controller.
    let cluster = cluster(ctx, app).await?;
    let writer = writer(ctx, &cluster, app)?;
    let mut catalog = cluster.catalog().snapshot().await;
    let requeue = loop {
        match step(
            &writer,
            &mut catalog,
            &mut run,
            &mut progress,
            SystemTime::now(),
        )
        .await
        {
            Step::Done | Step::Failed { .. } => break None,
            Step::Requeue { after } if after.is_zero() => {}
            Step::Requeue { after } => break Some(after),
        }
    };
    for object in &progress.outcome.objects {
        ctx.metrics.record_apply(object.action);
    }
    let now = now();
    let inventory = run
        .next_inventory(previous, &progress.outcome.objects)
        .entries();
    let operation = progress.operation_state(&run, operation, revision, started_at, now);
    Ok(Synced {
        operation,
        inventory: Some(inventory),
        requeue,
    })
}

/// The current time as the API's timestamp type.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn sync_options(app: &Application) -> Result<SyncOptions, Failure> {
    let listed = app
        .spec
        .sync_policy
        .as_ref()
        .map(|p| p.sync_options.as_slice())
        .unwrap_or(&[]);
    SyncOptions::parse(
        listed.iter().map(String::as_str),
        "spec.syncPolicy.syncOptions",
    )
    .map_err(|err| failure(Reason::InvalidManifest, err.to_string(), false))
}

fn destination_namespace(app: &Application) -> String {
    app.spec
        .destination
        .namespace
        .clone()
        .or_else(|| app.metadata.namespace.clone())
        .unwrap_or_else(|| "default".to_owned())
}
