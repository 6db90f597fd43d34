//! Looks once at whether objects are healthy (between waves, and for Namespaces and CRDs to be
//! established before what needs them is applied), from their live state assessed with
//! `capstan_core::health`. It never sleeps or polls: a sync that must wait requeues and looks
//! again (see `step`).

use std::collections::HashMap;

use capstan_api::HealthStatus;
use capstan_core::health::assess;
use capstan_core::object::ObjectKey;
use kube::Client;
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
