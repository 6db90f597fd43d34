//! Server-side apply with the single field manager `capstan`, forced (Capstan takes over fields
//! other managers — `kubectl edit`, say — changed, so drift is reverted), for real or as a
//! dry-run; replace and delete-and-recreate for the `Replace` and `Force` options (the delete
//! through `delete::delete_owned`, so only the application's own objects are ever recreated).

use std::time::Duration;

use capstan_api::{FIELD_MANAGER, Reason};
use capstan_core::object::str_at;
use capstan_core::outcome::Action;
use capstan_core::tracking::AppId;
use kube::Client;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::Value;

use crate::delete::{Deleted, delete_owned};
use crate::discovery::Resource;
use crate::error::{api_message, classify};
use crate::live::{api, to_value};
use crate::prepare::Prepared;

/// The parameters of every Capstan apply.
pub fn params(dry_run: bool) -> PatchParams {
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    params
}

/// Server-side-apply dry-run of `body` for `object`: the object as the API server would store
/// it, defaults and admission mutations included.
pub async fn dry_run(
    client: &Client,
    object: &Prepared,
    resource: &Resource,
    body: &Value,
) -> Result<Value, kube::Error> {
    let applied = api(client, resource, &object.key.namespace)
        .patch(&object.key.name, &params(true), &Patch::Apply(body))
        .await?;
    Ok(to_value(applied, resource))
}

/// How an apply is made: for which application, and how long a delete-and-recreate may wait
/// for the old object to go.
#[derive(Debug, Clone, Copy)]
pub struct ApplyContext<'a> {
    /// The application applying; only its own objects are ever deleted for a recreate.
    pub app: &'a AppId,
    /// How long a recreate waits for the deleted object to disappear before it fails.
    pub recreate_timeout: Duration,
}

/// What an apply did: the action, a message (why, for a failure), and the object as the API
/// server stored it (none after a failure).
#[derive(Debug, Clone)]
pub struct Applied {
    /// What happened.
    pub action: Action,
    /// Why it failed, for a failure.
    pub reason: Option<Reason>,
    /// Details; empty for a plain apply.
    pub message: String,
    /// The stored object, when the apply succeeded.
    pub stored: Option<Value>,
}

impl Applied {
    fn failed(reason: Reason, message: String) -> Applied {
        Applied {
            action: Action::Failed,
            reason: Some(reason),
            message,
            stored: None,
        }
    }
}

/// Applies `body` for `object` over `live`. With `Force` or `Replace`, an immutable-field
/// refusal deletes and recreates the object — only when this application owns it.
pub async fn apply(
    client: &Client,
    object: &Prepared,
    resource: &Resource,
    body: &Value,
    live: Option<&Value>,
    ctx: ApplyContext<'_>,
) -> Applied {
    let objects = api(client, resource, &object.key.namespace);
    let name = &object.key.name;
    let result = if object.options.replace {
        replace(&objects, body, live).await
    } else {
        objects
            .patch(name, &params(false), &Patch::Apply(body))
            .await
    };
    match result {
        Ok(applied) => Applied {
            action: changed(live, applied.metadata.resource_version.as_deref()),
            reason: None,
            message: String::new(),
            stored: Some(to_value(applied, resource)),
        },
        Err(err) if is_immutable(&err) && (object.options.force || object.options.replace) => {
            match recreate(&objects, object, body, live, ctx).await {
                Ok(stored) => Applied {
                    action: Action::Created,
                    reason: None,
                    message: "recreated: an immutable field changed".into(),
                    stored: Some(to_value(stored, resource)),
                },
                Err((reason, why)) => Applied::failed(reason, format!("recreate failed: {why}")),
            }
        }
        Err(err) if is_immutable(&err) => Applied::failed(
            Reason::ImmutableField,
            format!(
                "{} (an immutable field changed; the sync option Force=true deletes and \
                 recreates the object)",
                api_message(&err)
            ),
        ),
        Err(err) => Applied::failed(
            classify(&err).reason(Reason::ApplyFailed),
            api_message(&err),
        ),
    }
}

/// Creates namespace `name` if it is missing (`CreateNamespace=true`). It carries no tracking id
/// and is never part of an inventory, so it is never pruned (as in Argo CD).
pub async fn create_namespace(client: &Client, name: &str) -> Result<(), kube::Error> {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    if namespaces.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    namespaces
        .patch(name, &params(false), &Patch::Apply(&body))
        .await
        .map(|_| ())
}

/// Created when there was no live object, unchanged when the resourceVersion did not move.
fn changed(live: Option<&Value>, resource_version: Option<&str>) -> Action {
    match live {
        None => Action::Created,
        Some(live) if str_at(live, &["metadata", "resourceVersion"]) == resource_version => {
            Action::Unchanged
        }
        Some(_) => Action::Configured,
    }
}

/// PUT over the live object (its resourceVersion guards against lost updates), or create.
async fn replace(
    objects: &kube::Api<kube::api::DynamicObject>,
    body: &Value,
    live: Option<&Value>,
) -> Result<kube::api::DynamicObject, kube::Error> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let mut obj: kube::api::DynamicObject =
        serde_json::from_value(body.clone()).map_err(kube::Error::SerdeError)?;
    match live.and_then(|l| str_at(l, &["metadata", "resourceVersion"])) {
        Some(version) => {
            obj.metadata.resource_version = Some(version.to_owned());
            let name = obj.metadata.name.clone().unwrap_or_default();
            objects.replace(&name, &params, &obj).await
        }
        None => objects.create(&params, &obj).await,
    }
}

/// Deletes the object if the application owns it, waits until it is gone, and applies `body`
/// again. A delete that does not finish in time (a finalizer holding the object, say) fails
/// instead of applying onto the terminating object.
async fn recreate(
    objects: &kube::Api<kube::api::DynamicObject>,
    object: &Prepared,
    body: &Value,
    live: Option<&Value>,
    ctx: ApplyContext<'_>,
) -> Result<kube::api::DynamicObject, (Reason, String)> {
    let key = &object.key;
    let live = live.ok_or_else(|| {
        let why = format!("{key} was not read before the apply");
        (Reason::ApplyFailed, why)
    })?;
    let deleted = delete_owned(objects, ctx.app, key, live)
        .await
        .map_err(|e| (e.reason(), e.to_string()))?;
    if let Deleted::Deleted { uid } = deleted {
        let gone = kube::runtime::wait::await_condition(
            objects.clone(),
            &key.name,
            kube::runtime::wait::conditions::is_deleted(&uid),
        );
        match tokio::time::timeout(ctx.recreate_timeout, gone).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                let why = format!("waiting for {key} to be deleted: {err}");
                return Err((Reason::ReadFailed, why));
            }
            Err(_) => {
                let why = format!(
                    "{key} was deleted but is still there after {:?} (a finalizer may hold it); \
                     not recreated",
                    ctx.recreate_timeout
                );
                return Err((Reason::RecreateTimedOut, why));
            }
        }
    }
    objects
        .patch(&key.name, &params(false), &Patch::Apply(body))
        .await
        .map_err(|e| (classify(&e).reason(Reason::ApplyFailed), api_message(&e)))
}

/// Whether the API server refused a change to an immutable field.
fn is_immutable(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_invalid() && status.message.contains("immutable"))
}
