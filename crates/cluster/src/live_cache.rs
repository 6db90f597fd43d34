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
//! - The cache keeps a projection of each object, not the object (`Projection`): its tracking
//!   id, its live fingerprint and its health, computed as it arrives. An object whose
//!   projection shows it is what was applied and read back last time is settled without being
//!   read; any other is read whole with a GET, for the dry-run and the sync that follow.
//!
//! Memory: a projection is a few hundred bytes, whatever the size of the object; nothing of a
//! Secret's data is kept (Secrets are never fingerprinted, so they are always read).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use capstan_api::APP_LABEL;
use capstan_core::ignore::IgnoreRule;
use capstan_core::inventory::Inventory;
use capstan_core::object::ObjectKey;
use capstan_core::tracking::AppId;
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

use crate::discovery::Resource;
use crate::error::ClusterError;
use crate::live_version::{LiveVersion, Versions};
use crate::observed::{Observed, Projection};
use crate::prepare::Prepared;
use crate::{live, parallel};

/// Objects per page of a watch's LIST. A page is decoded whole (each object through serde's
/// buffering for `DynamicObject`'s flattened fields) before any of it is kept compact: with
/// kube's 500, the LISTs of a start over thousands of objects were the controller's peak heap
/// (18 MB of 27 MB in a heap profile at 300 Applications).
pub const LIST_PAGE: u32 = 100;

/// How long the first LIST of a new reflector may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One resource type's objects by (namespace, name); cluster-scoped ones in namespace `""`.
type Objects = HashMap<(String, String), Arc<Projection>>;

/// The objects of one resource type, as its watch last saw them.
#[derive(Clone)]
struct Store(Arc<RwLock<Objects>>);

impl Store {
    fn get(&self, namespace: &str, name: &str) -> Option<Arc<Projection>> {
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
    /// Caches for `client`'s cluster.
    pub fn new(client: Client) -> LiveCache {
        LiveCache {
            client,
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

    /// The live objects of `prepared` for `app`, as a compare needs them: settled from the
    /// cache when it holds the object for `app` and its projection shows it is what `known`
    /// says was applied and read back last time (`Projection::settles`); else read whole with a
    /// GET. Objects that do not exist are in neither part; objects whose kind is not served are
    /// left out.
    pub async fn observe(
        &self,
        app: &AppId,
        prepared: &[Prepared],
        known: &Inventory,
        rules: &[IgnoreRule],
        parallelism: usize,
    ) -> Result<Observed, ClusterError> {
        let mut observed = Observed::default();
        let mut unsettled = Vec::new();
        for object in prepared {
            let (key, Some(resource)) = (&object.key, &object.resource) else {
                continue;
            };
            let store = self.store(resource).await?;
            let tracking_id = app.tracking_id(key);
            let settled = store
                .get(&key.namespace, &key.name)
                .filter(|seen| seen.tracking_id.as_deref() == Some(tracking_id.as_str()))
                .filter(|seen| seen.settles(object, known.applied(key), rules));
            match settled {
                Some(seen) => {
                    observed.settled.insert(key.clone(), seen.health.clone());
                }
                None => unsettled.push((key, resource)),
            }
        }
        let gets: Vec<_> = unsettled
            .into_iter()
            .map(|(key, resource)| async move {
                Ok(live::get(&self.client, key, resource)
                    .await?
                    .map(|obj| (key.clone(), obj)))
            })
            .collect();
        let read = parallel::try_run(gets, parallelism.max(1)).await?;
        observed.whole.extend(read.into_iter().flatten());
        Ok(observed)
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
                        let (key, seen) = project(obj, &resource);
                        relisted.get_or_insert_default().insert(key, seen);
                    }
                    Ok(watcher::Event::InitDone) => {
                        *objects.write() = relisted.take().unwrap_or_default();
                        versions.listed();
                        listed.send_replace(true);
                    }
                    // The store changes before the version moves: whoever sees the new version
                    // reads the new projection (a compare that took the old version may have
                    // read either, and is compared again).
                    Ok(watcher::Event::Apply(obj)) => {
                        let (key, seen) = project(obj, &resource);
                        let now = seen.tracking_id.clone();
                        let before = objects.write().insert(key, seen);
                        notify(&changes, &versions, now.as_deref());
                        // An object another application took over leaves its former owner too.
                        let before = before.and_then(|b| b.tracking_id.clone());
                        if before.as_deref().and_then(owner) != now.as_deref().and_then(owner) {
                            notify(&changes, &versions, before.as_deref());
                        }
                    }
                    Ok(watcher::Event::Delete(obj)) => {
                        objects.write().remove(&name_of(&obj));
                        notify(&changes, &versions, tracking_id(&obj));
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

/// `obj` as kept: its (namespace, name) and its projection.
fn project(obj: DynamicObject, resource: &Resource) -> ((String, String), Arc<Projection>) {
    let (namespace, name) = name_of(&obj);
    let key = ObjectKey {
        group: resource.api.group.clone(),
        kind: resource.api.kind.clone(),
        namespace,
        name,
    };
    let seen = Projection::of(&key, &live::to_value(obj, resource));
    ((key.namespace, key.name), Arc::new(seen))
}

/// An object's (namespace, name); `""` for the namespace of a cluster-scoped one.
fn name_of(obj: &DynamicObject) -> (String, String) {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
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

    /// A LIST item (no type fields), as the watch receives it.
    fn listed() -> DynamicObject {
        serde_json::from_value(json!({
            "metadata": {
                "name": "web", "namespace": "prod", "resourceVersion": "7",
                "annotations": {capstan_api::TRACKING_ID_ANNOTATION: "apps/web:/ConfigMap:prod/web"},
                "managedFields": [{"manager": "capstan", "operation": "Apply"}],
            },
            "data": {"text": "grüße ✓ \"quoted\"\n", "empty": ""},
        }))
        .expect("a dynamic object")
    }

    #[test]
    fn a_kept_projection_is_that_of_the_object_with_its_type_fields() {
        let resource = config_maps();
        let (name, seen) = project(listed(), &resource);
        assert_eq!(name, ("prod".to_owned(), "web".to_owned()));
        let key = ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "prod".into(),
            name: "web".into(),
        };
        let whole = live::to_value(listed(), &resource);
        assert_eq!(whole["kind"], "ConfigMap");
        assert_eq!(*seen, Projection::of(&key, &whole));
        assert_eq!(
            seen.tracking_id.as_deref(),
            Some("apps/web:/ConfigMap:prod/web")
        );
        assert!(seen.fingerprint.is_some());
    }
}
