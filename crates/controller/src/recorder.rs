//! Publishing Events with bounded memory. Each Event is created as an `events.k8s.io/v1` Event;
//! one that repeats — same object, type, reason, action and note — within six minutes is
//! counted on the first one's `series` (a patch) instead of creating another, as `kubectl
//! events` expects. Only the last [`REMEMBERED`] Events are remembered for that, each as a hash
//! and the first Event's name: however many Applications there are, a cold start's thousands of
//! Events are not kept for six minutes (kube's `Recorder` keeps every Event whole).

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use serde_json::json;

/// How many published Events are remembered to count repeats.
pub const REMEMBERED: usize = 256;

/// How long a repeat counts on the first Event rather than making a new one.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// The name Events are reported under (`reportingController`, `reportingInstance`).
const CONTROLLER: &str = "capstan";

/// Publishes Events as the controller.
pub struct Recorder {
    client: kube::Client,
    recent: Mutex<VecDeque<Published>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// An Event published, as far as a repeat needs it.
struct Published {
    key: u64,
    name: String,
    count: i32,
    at: Instant,
}

impl Recorder {
    /// A recorder writing with `client`.
    pub fn new(client: kube::Client) -> Recorder {
        Recorder {
            client,
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Publishes `event` about the object `reference`, in its namespace.
    pub async fn publish(&self, event: &Event, reference: &ObjectReference) -> kube::Result<()> {
        let key = key_of(event, reference);
        let namespace = reference.namespace.clone().unwrap_or("default".into());
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let now = Timestamp::now();
        if let Some((name, count)) = self.repeat(key) {
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let patch = json!({ "series": series });
            events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            return Ok(());
        }
        let name = format!(
            "{}.{:x}",
            reference.name.as_deref().unwrap_or(CONTROLLER),
            now.as_nanosecond()
        );
        let created = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(match event.type_ {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            reason: Some(event.reason.clone()),
            action: Some(event.action.clone()),
            note: event.note.clone(),
            regarding: Some(reference.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(CONTROLLER.into()),
            reporting_instance: Some(CONTROLLER.into()),
            ..K8sEvent::default()
        };
        events.create(&PostParams::default(), &created).await?;
        self.remember(Published {
            key,
            name,
            count: 1,
            at: Instant::now(),
        });
        Ok(())
    }

    /// When an Event of `key` was published within the window: its name and its new count.
    fn repeat(&self, key: u64) -> Option<(String, i32)> {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.retain(|p| p.at.elapsed() < SERIES_WINDOW);
        let published = recent.iter_mut().find(|p| p.key == key)?;
        published.count += 1;
        Some((published.name.clone(), published.count))
    }

    fn remember(&self, published: Published) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(published);
    }
}

/// What makes two Events the same: the object, type, reason, action and note.
fn key_of(event: &Event, reference: &ObjectReference) -> u64 {
    let mut hasher = DefaultHasher::new();
    (
        &reference.uid,
        &reference.kind,
        &reference.namespace,
        &reference.name,
    )
        .hash(&mut hasher);
    let warning = matches!(event.type_, EventType::Warning);
    (warning, &event.reason, &event.action, &event.note).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: "Synced".into(),
            note: Some(note.into()),
            action: "Sync".into(),
            secondary: None,
        }
    }

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("Application".into()),
            namespace: Some("apps".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn the_same_event_about_the_same_object_has_the_same_key_and_nothing_else_does() {
        let same = key_of(&event("synced a1b2"), &reference("web"));
        assert_eq!(same, key_of(&event("synced a1b2"), &reference("web")));
        assert_ne!(same, key_of(&event("synced c3d4"), &reference("web")));
        assert_ne!(same, key_of(&event("synced a1b2"), &reference("api")));
        let mut warning = event("synced a1b2");
        warning.type_ = EventType::Warning;
        assert_ne!(same, key_of(&warning, &reference("web")));
    }

    #[tokio::test]
    async fn repeats_count_on_the_first_event_and_only_the_last_ones_are_remembered() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let recorder = Recorder::new(kube::Client::try_from(config).expect("client"));
        let published = |key: u64| Published {
            key,
            name: format!("web.{key:x}"),
            count: 1,
            at: Instant::now(),
        };
        recorder.remember(published(7));
        assert_eq!(recorder.repeat(7), Some(("web.7".into(), 2)));
        assert_eq!(recorder.repeat(7), Some(("web.7".into(), 3)));
        assert_eq!(recorder.repeat(8), None);
        for key in 100..100 + REMEMBERED as u64 {
            recorder.remember(published(key));
        }
        assert_eq!(
            recorder.repeat(7),
            None,
            "the oldest is forgotten past the bound"
        );
        assert!(recorder.repeat(100).is_some());
    }
}
