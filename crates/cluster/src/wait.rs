//! Waits for objects to become healthy (between waves, and for CRDs to be established before
//! their custom resources are applied), by polling their live state and assessing it with
//! `capstan_core::health`. Degraded ends the wait at once; so does the timeout.

use std::time::Duration;

use capstan_api::HealthStatus;
use capstan_core::health::assess;
use capstan_core::object::ObjectKey;
use kube::Client;

use crate::discovery::Resource;
use crate::live;

/// Time between two looks at the objects.
const POLL: Duration = Duration::from_millis(500);

/// Waits until every object in `objects` exists and is Healthy or Suspended. Fails with a
/// message naming the first object that is Degraded, or that is still not healthy at the
/// timeout.
pub async fn healthy(
    client: &Client,
    objects: &[(ObjectKey, Resource)],
    timeout: Duration,
    parallelism: usize,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let found = live::fetch(client, objects, parallelism)
            .await
            .map_err(|err| err.to_string())?;
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
                HealthStatus::Degraded => return Err(describe(key, status, &message)),
                _ => {
                    waiting.get_or_insert_with(|| describe(key, status, &message));
                }
            }
        }
        let Some(waiting) = waiting else {
            return Ok(());
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {waiting}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn describe(key: &ObjectKey, status: HealthStatus, message: &str) -> String {
    if message.is_empty() {
        format!("{key} ({status})")
    } else {
        format!("{key} ({status}: {message})")
    }
}
