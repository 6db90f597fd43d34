//! Live state from shared watch caches: one kube-runtime reflector per resource type in use,
//! shared by every application, watching only objects that carry the ownership label
//! `capstan.dev/app` (any value). After its first LIST a reflector follows the resource with a
//! WATCH, so a steady-state compare reads nothing from the API server.
//!
//! Read rules:
//! - An application is served from the cache only objects whose tracking id names it and that
//!   very object (the label only scopes the watch; the tracking id stays the authority).
//! - "Not in the cache" is not "gone": an object the cache does not hold for the application (no
//!   label yet, the label removed by hand, owned by someone else, or not seen by the watch yet)
//!   is read with a GET, and only a GET's "not found" makes it missing.
//! - The cache stores what compare and health need: `managedFields` are dropped unless the cache
//!   was made for `ignoreDifferences` by manager.
//!
//! Memory: each object is kept as compact JSON (`CompactJson`, with its tracking id beside it,
//! so an object of another application is never read), a fraction of the parsed object; a view
//! reads back the objects it serves, exactly as they were.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use capstan_api::APP_LABEL;
use capstan_core::object::ObjectKey;
use capstan_core::tracking::AppId;
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::compact::CompactJson;
use crate::discovery::Resource;
use crate::error::ClusterError;
use crate::live_version::{LiveVersion, Versions};
use crate::{live, parallel};

/// Objects per page of a watch's LIST. A page is decoded whole (each object through serde's
/// buffering for `DynamicObject`'s flattened fields) before any of it is kept compact: with
/// kube's 500, the LISTs of a start over thousands of objects were the controller's peak heap
/// (18 MB of 27 MB in a heap profile at 300 Applications).
pub const LIST_PAGE: u32 = 100;

/// How long the first LIST of a new reflector may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One object kept: its tracking id and the object.
struct Kept {
    tracking_id: Option<Box<str>>,
    object: CompactJson,
}

/// One resource type's objects by (namespace, name); cluster-scoped ones in namespace `""`.
type Objects = HashMap<(String, String), Arc<Kept>>;

/// The objects of one resource type, as its watch last saw them.
#[derive(Clone)]
struct Store(Arc<RwLock<Objects>>);

impl Store {
    fn get(&self, namespace: &str, name: &str) -> Option<Arc<Kept>> {
        let objects = self.0.read().unwrap_or_else(PoisonError::into_inner);
        objects
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One resource type's watch.
struct Watched {
    store: Store,
    task: tokio::task::JoinHandle<()>,
}

/// The shared caches of one cluster. Reflectors start on first use and stop when the cache is
/// dropped.
pub struct LiveCache {
    client: Client,
    keep_managed_fields: bool,
    watched: tokio::sync::Mutex<HashMap<String, Arc<Watched>>>,
    changes: tokio::sync::broadcast::Sender<String>,
    versions: Arc<Versions>,
}

/// How many change notices a slow subscriber may fall behind before it misses some (it then
/// only misses duplicates: the next change of an application notifies it again).
const CHANGE_BUFFER: usize = 1024;

impl std::fmt::Debug for LiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCache").finish_non_exhaustive()
    }
}

impl LiveCache {
    /// Caches for `client`'s cluster; `keep_managed_fields` keeps `managedFields` (needed by
    /// `ignoreDifferences` by manager), otherwise they are dropped on arrival.
    pub fn new(client: Client, keep_managed_fields: bool) -> LiveCache {
        LiveCache {
            client,
            keep_managed_fields,
            watched: tokio::sync::Mutex::new(HashMap::new()),
            changes: tokio::sync::broadcast::channel(CHANGE_BUFFER).0,
            versions: Arc::default(),
        }
    }

    /// The application ids (`namespace/name`, from the tracking id) whose watched objects
    /// changed or were deleted, as they happen — what makes a controller heal drift within
    /// seconds. Only resource types already watched (see `view`) report.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// The version of `app`'s watched objects: taken before a `view` and again later, equal
    /// when no object of `app` the watches follow changed or went and no watch listed again.
    /// Objects read with a GET (not in the cache) are not followed.
    pub fn version(&self, app: &AppId) -> LiveVersion {
        self.versions.of(app.as_str())
    }

    /// The live objects among `wanted` for `app`: from the cache when it holds them for `app`,
    /// else from a GET; objects that do not exist are not in the result.
    pub async fn view(
        &self,
        app: &AppId,
        wanted: &[(ObjectKey, Resource)],
        parallelism: usize,
    ) -> Result<HashMap<ObjectKey, Value>, ClusterError> {
        let mut found = HashMap::new();
        let mut unknown = Vec::new();
        for (key, resource) in wanted {
            let store = self.store(resource).await?;
            let tracking_id = app.tracking_id(key);
            let cached = store
                .get(&key.namespace, &key.name)
                .filter(|kept| kept.tracking_id.as_deref() == Some(tracking_id.as_str()))
                .and_then(|kept| kept.object.read::<Value>())
                .filter(|obj| app.owns(obj, key));
            match cached {
                Some(obj) => {
                    found.insert(key.clone(), obj);
                }
                None => unknown.push((key, resource)),
            }
        }
        let gets: Vec<_> = unknown
            .into_iter()
            .map(|(key, resource)| async move {
                Ok(live::get(&self.client, key, resource)
                    .await?
                    .map(|obj| (key.clone(), obj)))
            })
            .collect();
        let read = parallel::try_run(gets, parallelism.max(1)).await?;
        found.extend(read.into_iter().flatten());
        Ok(found)
    }

    /// Starts the watches of `resources` that are not running yet (and waits for their first
    /// LIST): a standby replica keeps the caches warm for the Applications it may take over.
    pub async fn warm(&self, resources: &[Resource]) -> Result<(), ClusterError> {
        for resource in resources {
            self.store(resource).await?;
        }
        Ok(())
    }

    /// The store of `resource`, its watch started (and its first LIST done) on first use.
    async fn store(&self, resource: &Resource) -> Result<Store, ClusterError> {
        let id = format!("{}/{}", resource.api.api_version, resource.api.plural);
        let mut watched = self.watched.lock().await;
        if let Some(existing) = watched.get(&id) {
            return Ok(existing.store.clone());
        }
        let (started, mut listed) = self.start(resource);
        let ready = tokio::time::timeout(READY_TIMEOUT, listed.wait_for(|done| *done)).await;
        if !matches!(ready, Ok(Ok(_))) {
            started.task.abort();
            return Err(ClusterError::Invalid(format!(
                "the watch of {id} did not complete its first list within {READY_TIMEOUT:?}"
            )));
        }
        let store = started.store.clone();
        watched.insert(id, Arc::new(started));
        Ok(store)
    }

    /// Starts the watch of `resource`; the receiver turns `true` once its first LIST is in the
    /// store. A LIST again (after the watch lost its place) replaces the store when complete.
    fn start(&self, resource: &Resource) -> (Watched, tokio::sync::watch::Receiver<bool>) {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource.api);
        let store = Store(Arc::default());
        let (listed, ready) = tokio::sync::watch::channel(false);
        let config = watcher::Config::default()
            .labels(APP_LABEL)
            .page_size(LIST_PAGE);
        let keep = self.keep_managed_fields;
        let resource = resource.clone();
        let changes = self.changes.clone();
        let versions = Arc::clone(&self.versions);
        let objects = store.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, config).default_backoff().boxed();
            let mut relisted: Option<Objects> = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Init) => relisted = Some(Objects::new()),
                    Ok(watcher::Event::InitApply(obj)) => {
                        if let (key, Some(kept)) = compact(obj, &resource, keep) {
                            relisted.get_or_insert_default().insert(key, kept);
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        *objects.write() = relisted.take().unwrap_or_default();
                        versions.listed();
                        listed.send_replace(true);
                    }
                    Ok(watcher::Event::Apply(obj)) => {
                        notify(&changes, &versions, tracking_id(&obj));
                        let (key, kept) = compact(obj, &resource, keep);
                        let now = kept.as_ref().and_then(|k| k.tracking_id.clone());
                        let before = match kept {
                            Some(kept) => objects.write().insert(key, kept),
                            None => objects.write().remove(&key),
                        };
                        // An object another application took over leaves its former owner too.
                        let before = before.and_then(|b| b.tracking_id.clone());
                        if before.as_deref().and_then(owner) != now.as_deref().and_then(owner) {
                            notify(&changes, &versions, before.as_deref());
                        }
                    }
                    Ok(watcher::Event::Delete(obj)) => {
                        notify(&changes, &versions, tracking_id(&obj));
                        let (key, _) = compact(obj, &resource, keep);
                        objects.write().remove(&key);
                    }
                    Err(err) => {
                        let plural = &resource.api.plural;
                        tracing::warn!(resource = %plural, error = %err, "watch failed; retrying");
                    }
                }
            }
        });
        (Watched { store, task }, ready)
    }
}

/// Tells the subscribers that the application a tracking id names changed.
fn notify(
    changes: &tokio::sync::broadcast::Sender<String>,
    versions: &Versions,
    tracking_id: Option<&str>,
) {
    if let Some(app) = tracking_id.and_then(owner) {
        versions.changed(app);
        // Nobody listening is fine: a controller may not have started.
        let _ = changes.send(app.to_owned());
    }
}

/// `obj` as kept: its (namespace, name), its tracking id and the object with its type fields
/// filled in (LIST items lack them) — `managedFields` left out unless `keep_managed_fields`;
/// `None` for an object that cannot be written as JSON (never seen: the API server sends JSON),
/// which is then not kept, so that a view reads it.
fn compact(
    mut obj: DynamicObject,
    resource: &Resource,
    keep_managed_fields: bool,
) -> ((String, String), Option<Arc<Kept>>) {
    if !keep_managed_fields {
        obj.metadata.managed_fields = None;
    }
    let key = (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    );
    let id = tracking_id(&obj).map(Into::into);
    let object = CompactJson::of(&live::to_value(obj, resource));
    let kept = object.map(|object| {
        Arc::new(Kept {
            tracking_id: id,
            object,
        })
    });
    (key, kept)
}

/// An object's tracking id.
fn tracking_id(obj: &DynamicObject) -> Option<&str> {
    let annotations = obj.metadata.annotations.as_ref()?;
    annotations
        .get(capstan_api::TRACKING_ID_ANNOTATION)
        .map(String::as_str)
}

/// The application a tracking id names (`namespace/name`).
fn owner(tracking_id: &str) -> Option<&str> {
    tracking_id.split_once(':').map(|(app, _)| app)
}

impl Drop for LiveCache {
    fn drop(&mut self) {
        if let Ok(watched) = self.watched.try_lock() {
            for w in watched.values() {
                w.task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::api::{ApiResource, GroupVersionKind};
    use serde_json::json;

    use super::*;

    fn config_maps() -> Resource {
        let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
        Resource {
            api: ApiResource::from_gvk_with_plural(&gvk, "configmaps"),
            namespaced: true,
        }
    }

    /// A LIST item (no type fields) with what a text round trip could alter: numbers of each
    /// kind, non-ASCII text, nulls, empty maps and arrays.
    fn listed() -> DynamicObject {
        serde_json::from_value(json!({
            "metadata": {
                "name": "web", "namespace": "prod", "resourceVersion": "7",
                "annotations": {capstan_api::TRACKING_ID_ANNOTATION: "apps/web:/ConfigMap:prod/web"},
                "managedFields": [{"manager": "capstan", "operation": "Apply"}],
            },
            "data": {"text": "grüße ✓ \"quoted\"\n", "empty": ""},
            "extra": {"int": -3, "big": 18446744073709551615_u64, "float": 0.1, "whole": 2.0,
                "none": null, "map": {}, "list": []},
        }))
        .expect("a dynamic object")
    }

    #[test]
    fn a_kept_object_reads_back_exactly_as_the_object_with_its_type_fields() {
        let resource = config_maps();
        let (key, kept) = compact(listed(), &resource, true);
        let kept = kept.expect("kept");
        assert_eq!(key, ("prod".to_owned(), "web".to_owned()));
        assert_eq!(
            kept.tracking_id.as_deref(),
            Some("apps/web:/ConfigMap:prod/web")
        );
        let read: Value = kept.object.read().expect("JSON");
        assert_eq!(read, live::to_value(listed(), &resource));
        assert_eq!(read["apiVersion"], "v1");
        assert_eq!(read["kind"], "ConfigMap");
        assert_eq!(read["extra"]["whole"], json!(2.0));
    }

    #[test]
    fn managed_fields_are_kept_only_when_asked_for() {
        let resource = config_maps();
        let dropped = compact(listed(), &resource, false).1.expect("kept");
        let read: Value = dropped.object.read().expect("JSON");
        assert!(read["metadata"].get("managedFields").is_none(), "{read}");
        let kept = compact(listed(), &resource, true).1.expect("kept");
        let read: Value = kept.object.read().expect("JSON");
        assert!(read["metadata"]["managedFields"].is_array(), "{read}");
    }
}
