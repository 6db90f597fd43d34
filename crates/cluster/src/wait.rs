//! Looks once at whether objects are healthy (between waves, and for Namespaces and CRDs to be
//! established before what needs them is applied), from their live state assessed with
//! `capstan_core::health`. It never sleeps or polls: a sync that must wait requeues and looks
//! again (see `step`). A caller that can wait, such as the CLI, waits for the next change of
//! those objects with a watch (`changed`) instead of looking again blindly.

use std::collections::HashMap;
use std::time::Duration;

use capstan_api::{APP_LABEL, HealthStatus, app_label_value};
use capstan_core::health::assess;
use capstan_core::object::ObjectKey;
use capstan_core::tracking::AppId;
use futures::StreamExt;
use kube::Client;
use kube::runtime::watcher;
use serde_json::Value;

use crate::discovery::Resource;
use crate::error::ClusterError;
use crate::live;

/// What one look at some objects found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every object exists and is Healthy or Suspended.
    Ready,
    /// Some object is not there yet; names the first one and its state.
    Waiting(String),
    /// Some object is Degraded; names the first one and why. Waiting longer will not help.
    Degraded(String),
}

/// Whether every object in `objects` exists and is Healthy or Suspended.
pub async fn check(
    client: &Client,
    objects: &[(ObjectKey, Resource)],
    parallelism: usize,
) -> Result<Readiness, ClusterError> {
    let found = live::fetch(client, objects, parallelism).await?;
    Ok(readiness(objects, &found))
}

/// Whether every object in `objects` is among the live objects `found` (read by `check`, or
/// served by the shared watch caches) and Healthy or Suspended.
pub fn readiness(
    objects: &[(ObjectKey, Resource)],
    found: &HashMap<ObjectKey, Value>,
) -> Readiness {
    let mut waiting = None;
    for (key, _) in objects {
        let (status, message) = match found.get(key) {
            Some(obj) => {
                let health = assess(obj);
                (health.status, health.message)
            }
            None => (HealthStatus::Missing, String::new()),
        };
        match status {
            HealthStatus::Healthy | HealthStatus::Suspended => {}
            HealthStatus::Degraded => {
                return Readiness::Degraded(describe(key, status, &message));
            }
            _ => {
                waiting.get_or_insert_with(|| describe(key, status, &message));
            }
        }
    }
    waiting.map_or(Readiness::Ready, Readiness::Waiting)
}

fn describe(key: &ObjectKey, status: HealthStatus, message: &str) -> String {
    if message.is_empty() {
        format!("{key} ({status})")
    } else {
        format!("{key} ({status}: {message})")
    }
}

/// Waits until one of `objects` (carrying `app`'s ownership label) changes or is deleted, or
/// `at_most` has passed: one WATCH per resource type and namespace, the changes before the watch
/// began not counting. A failing watch ends the wait early, so the caller looks again.
pub async fn changed(
    client: &Client,
    objects: &[(ObjectKey, Resource)],
    app: &AppId,
    at_most: Duration,
) {
    let label = format!("{APP_LABEL}={}", app_label_value(app.as_str()));
    // One watch per resource type and namespace.
    let scopes: std::collections::BTreeMap<(&str, &str, &str), &Resource> = objects
        .iter()
        .map(|(key, r)| {
            (
                (
                    r.api.api_version.as_str(),
                    r.api.plural.as_str(),
                    key.namespace.as_str(),
                ),
                r,
            )
        })
        .collect();
    let streams = scopes.into_iter().map(|((_, _, namespace), resource)| {
        let api = live::api(client, resource, namespace);
        let mut initialized = false;
        watcher(api, watcher::Config::default().labels(&label))
            .filter(move |event| {
                let change = match event {
                    Ok(watcher::Event::InitDone) => {
                        initialized = true;
                        false
                    }
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => initialized,
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => false,
                    Err(_) => true,
                };
                futures::future::ready(change)
            })
            .boxed()
    });
    let mut any = futures::stream::select_all(streams);
    let _ = tokio::time::timeout(at_most, any.next()).await;
}
