//! Server-side apply with the single field manager `capstan`, forced (Capstan takes over fields
//! other managers — `kubectl edit`, say — changed, so drift is reverted), for real or as a
//! dry-run; replace and delete-and-recreate for the `Replace` and `Force` options.

use std::time::Duration;

use capstan_api::FIELD_MANAGER;
use capstan_core::object::str_at;
use capstan_core::outcome::Action;
use kube::Client;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::Value;

use crate::discovery::Resource;
use crate::error::{api_message, is_not_found};
use crate::live::{api, to_value};
use crate::prepare::Prepared;

/// How long a delete-and-recreate waits for the old object to go.
const RECREATE_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Applies `body` for `object` over `live`; returns what happened and a message.
pub async fn apply(
    client: &Client,
    object: &Prepared,
    resource: &Resource,
    body: &Value,
    live: Option<&Value>,
) -> (Action, String) {
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
        Ok(applied) => (
            changed(live, applied.metadata.resource_version.as_deref()),
            String::new(),
        ),
        Err(err) if is_immutable(&err) && (object.options.force || object.options.replace) => {
            let uid = live
                .and_then(|l| str_at(l, &["metadata", "uid"]))
                .unwrap_or_default();
            match recreate(&objects, name, body, uid).await {
                Ok(()) => (
                    Action::Created,
                    "recreated: an immutable field changed".into(),
                ),
                Err(err) => (
                    Action::Failed,
                    format!("recreate failed: {}", api_message(&err)),
                ),
            }
        }
        Err(err) if is_immutable(&err) => (
            Action::Failed,
            format!(
                "{} (an immutable field changed; the sync option Force=true deletes and \
                 recreates the object)",
                api_message(&err)
            ),
        ),
        Err(err) => (Action::Failed, api_message(&err)),
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

/// Deletes an object (background propagation). Already gone counts as done.
pub async fn delete(
    client: &Client,
    resource: &Resource,
    namespace: &str,
    name: &str,
) -> Result<(), kube::Error> {
    delete_from(&api(client, resource, namespace), name).await
}

/// Deletes `name` with background propagation: the object goes at once and the garbage
/// collector removes its dependents (a foreground delete would leave the object in place until
/// the collector is done). Already gone counts as done.
async fn delete_from(
    objects: &kube::Api<kube::api::DynamicObject>,
    name: &str,
) -> Result<(), kube::Error> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match objects.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(err) if is_not_found(&err) => Ok(()),
        Err(err) => Err(err),
    }
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

/// Deletes the object, waits until it is gone, and applies `body` again.
async fn recreate(
    objects: &kube::Api<kube::api::DynamicObject>,
    name: &str,
    body: &Value,
    uid: &str,
) -> Result<(), kube::Error> {
    delete_from(objects, name).await?;
    let gone = kube::runtime::wait::await_condition(
        objects.clone(),
        name,
        kube::runtime::wait::conditions::is_deleted(uid),
    );
    let _ = tokio::time::timeout(RECREATE_TIMEOUT, gone).await;
    objects
        .patch(name, &params(false), &Patch::Apply(body))
        .await
        .map(|_| ())
}

/// Whether the API server refused a change to an immutable field.
fn is_immutable(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_invalid() && status.message.contains("immutable"))
}
