//! Waiting on the Applications through one watch (a reflector), so that measuring costs the API
//! server almost nothing: after every event the whole set is checked against a condition, and
//! the time it first holds is returned. Also the audit log's view of what the controller asked.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use capstan_api::application::Application;
use capstan_api::{HealthStatus, SyncStatus};
use capstan_testenv::Audit;
use futures::{StreamExt, stream::BoxStream};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

/// A watch on every Application of a namespace.
pub struct Applications {
    store: Store<Application>,
    events: BoxStream<'static, Result<Arc<Application>, watcher::Error>>,
    /// Each Application's last status seen, to tell which fields a status write changed.
    last: HashMap<String, Value>,
    /// Status fields changed since [`Applications::take_changes`], with how often.
    changes: BTreeMap<String, usize>,
    /// Where to write every status of one Application (`CAPSTAN_BENCH_DUMP=NAME`), numbered.
    pub dump: Option<(std::path::PathBuf, String, usize)>,
}

impl Applications {
    pub fn watch(api: Api<Application>) -> Self {
        let (store, writer) = reflector::store();
        let events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .applied_objects()
            .map(|r| r.map(Arc::new))
            .boxed();
        Applications {
            store,
            events,
            last: HashMap::new(),
            changes: BTreeMap::new(),
            dump: None,
        }
    }

    /// Which status fields changed (JSON pointers, array indices as `*`) since the last call,
    /// and how often, most frequent first.
    pub fn take_changes(&mut self) -> Vec<(String, usize)> {
        let mut changes: Vec<(String, usize)> =
            std::mem::take(&mut self.changes).into_iter().collect();
        changes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        changes
    }

    /// Consumes events for `window`, recording status changes.
    pub async fn observe(&mut self, window: std::time::Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Ok(Some(event)) => self.record(event),
                Ok(None) => bail!("the Application watch ended"),
                Err(_) => return Ok(()),
            }
        }
    }

    fn record(&mut self, event: Result<Arc<Application>, watcher::Error>) {
        let app = match event {
            Ok(app) => app,
            Err(err) => return report_watch_error(&err),
        };
        let name = app.metadata.name.clone().unwrap_or_default();
        let status = serde_json::to_value(&app.status).unwrap_or(Value::Null);
        if let Some(before) = self.last.get(&name) {
            let mut changed = Vec::new();
            changed_paths(before, &status, String::new(), &mut changed);
            for path in changed {
                *self.changes.entry(path).or_default() += 1;
            }
        }
        if let Some((dir, wanted, n)) = &mut self.dump
            && *wanted == name
        {
            *n += 1;
            let text = serde_json::to_string_pretty(&status).unwrap_or_default();
            let _ = std::fs::write(dir.join(format!("status-{name}-{n:03}.json")), text);
        }
        self.last.insert(name, status);
    }

    /// Waits until `expected` Applications are known and every one satisfies `done`; returns
    /// when that was first seen. Fails at `deadline` with a count of their states.
    pub async fn until(
        &mut self,
        what: &str,
        expected: usize,
        deadline: tokio::time::Instant,
        done: impl Fn(&Application) -> bool,
    ) -> anyhow::Result<Instant> {
        loop {
            let apps = self.store.state();
            if apps.len() == expected && apps.iter().all(|app| done(app)) {
                return Ok(Instant::now());
            }
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Ok(Some(event)) => self.record(event),
                Ok(None) => bail!("the Application watch ended"),
                Err(_) => bail!(
                    "timed out waiting for {what}; Applications by sync/health/revision: {}",
                    census(&apps)
                ),
            }
        }
    }
}

fn report_watch_error(err: &watcher::Error) {
    eprintln!("bench: the Application watch reported {err} (it retries)");
}

/// The leaf paths where `a` and `b` differ, array indices written `*`.
fn changed_paths(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let (l, r) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                changed_paths(l, r, format!("{path}/{key}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (l, r) in x.iter().zip(y) {
                changed_paths(l, r, format!("{path}/*"), out);
            }
        }
        _ if a != b => out.push(path),
        _ => {}
    }
}

/// Whether `app` is Synced at `revision`.
pub fn synced_at(app: &Application, revision: &str) -> bool {
    let status = app.status.as_ref();
    status
        .and_then(|s| s.sync.as_ref())
        .is_some_and(|s| s.status == SyncStatus::Synced && s.revision.as_deref() == Some(revision))
}

/// Whether `app` is Healthy.
pub fn healthy(app: &Application) -> bool {
    app.status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .is_some_and(|h| h.status == HealthStatus::Healthy)
}

/// How many Applications are in each (sync, health, revision) state.
fn census(apps: &[Arc<Application>]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for app in apps {
        let status = app.status.as_ref();
        let sync = status.and_then(|s| s.sync.as_ref());
        let key = format!(
            "{:?}/{:?}/{}",
            sync.map(|s| s.status),
            status.and_then(|s| s.health.as_ref()).map(|h| h.status),
            sync.and_then(|s| s.revision.as_deref())
                .map_or("-", |r| &r[..7.min(r.len())]),
        );
        *counts.entry(key).or_default() += 1;
    }
    format!("{counts:?} ({} known)", apps.len())
}

/// The dry-runs in `audit` by resource and object name with the Application's prefix left out
/// (`app-007-config-15` → `configmaps *-config-15`), most frequent first.
pub fn dry_runs_by_object(audit: &Audit) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in audit.iter().filter(|e| e.is_dry_run()) {
        let Some(r) = &event.object_ref else { continue };
        let name = r.name.as_deref().unwrap_or("");
        let name = name
            .split_once('-')
            .and_then(|(_, rest)| rest.split_once('-'))
            .map_or(name, |(_, rest)| rest);
        let key = format!("{} *-{name}", r.resource.as_deref().unwrap_or(""));
        *counts.entry(key).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// The requests in `audit`, counted by verb and resource (a dry-run, a watch and a status
/// subresource shown as such), most frequent first.
pub fn requests_by_kind(audit: &Audit) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in audit.iter() {
        let verb = if event.is_watch() {
            "watch"
        } else if event.is_dry_run() {
            "dry-run patch"
        } else {
            event.verb.as_str()
        };
        let resource = event.object_ref.as_ref().map_or_else(
            || event.request_uri.split('?').next().unwrap_or("").to_owned(),
            |r| {
                let name = r.resource.clone().unwrap_or_default();
                match &r.subresource {
                    Some(sub) => format!("{name}/{sub}"),
                    None => name,
                }
            },
        );
        *counts.entry(format!("{verb} {resource}")).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}
