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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_api::APP_LABEL;
use capstan_core::object::ObjectKey;
use capstan_core::tracking::AppId;
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::discovery::Resource;
use crate::error::ClusterError;
use crate::{live, parallel};

/// How long the first LIST of a new reflector may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One resource type's reflector.
struct Watched {
    store: Store<DynamicObject>,
    task: tokio::task::JoinHandle<()>,
}

/// The shared caches of one cluster. Reflectors start on first use and stop when the cache is
/// dropped.
pub struct LiveCache {
    client: Client,
    keep_managed_fields: bool,
    watched: tokio::sync::Mutex<HashMap<String, Arc<Watched>>>,
    changes: tokio::sync::broadcast::Sender<String>,
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
        }
    }

    /// The application ids (`namespace/name`, from the tracking id) whose watched objects
    /// changed or were deleted, as they happen — what makes a controller heal drift within
    /// seconds. Only resource types already watched (see `view`) report.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
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
            let cached = store
                .get(&ObjectRef::new_with(&key.name, resource.api.clone()).within(&key.namespace))
                .map(|obj| live::to_value((*obj).clone(), resource))
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

    /// The store of `resource`, its reflector started (and its first LIST done) on first use.
    async fn store(&self, resource: &Resource) -> Result<Store<DynamicObject>, ClusterError> {
        let id = format!("{}/{}", resource.api.api_version, resource.api.plural);
        let mut watched = self.watched.lock().await;
        if let Some(existing) = watched.get(&id) {
            return Ok(existing.store.clone());
        }
        let started = self.start(resource);
        let ready = tokio::time::timeout(READY_TIMEOUT, started.store.wait_until_ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            started.task.abort();
            return Err(ClusterError::Invalid(format!(
                "the watch of {id} did not complete its first list within {READY_TIMEOUT:?}"
            )));
        }
        let store = started.store.clone();
        watched.insert(id, Arc::new(started));
        Ok(store)
    }

    fn start(&self, resource: &Resource) -> Watched {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource.api);
        let writer = reflector::store::Writer::new(resource.api.clone());
        let store = writer.as_reader();
        let config = watcher::Config::default().labels(APP_LABEL);
        let keep = self.keep_managed_fields;
        let plural = resource.api.plural.clone();
        let stream = watcher(api, config)
            .default_backoff()
            .modify(move |obj: &mut DynamicObject| {
                if !keep {
                    obj.metadata.managed_fields = None;
                }
            })
            .reflect(writer);
        let changes = self.changes.clone();
        let task = tokio::spawn(async move {
            stream
                .for_each(|event| {
                    match event {
                        Ok(watcher::Event::Apply(obj) | watcher::Event::Delete(obj)) => {
                            if let Some(app) = owner(&obj) {
                                // Nobody listening is fine: a controller may not have started.
                                let _ = changes.send(app);
                            }
                        }
                        Ok(_) => {}
                        Err(err) => {
                            tracing::warn!(resource = %plural, error = %err, "watch failed; retrying");
                        }
                    }
                    futures::future::ready(())
                })
                .await;
        });
        Watched { store, task }
    }
}

/// The application an object's tracking id names (`namespace/name`).
fn owner(obj: &DynamicObject) -> Option<String> {
    let id = obj
        .metadata
        .annotations
        .as_ref()?
        .get(capstan_api::TRACKING_ID_ANNOTATION)?;
    id.split_once(':').map(|(app, _)| app.to_owned())
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
