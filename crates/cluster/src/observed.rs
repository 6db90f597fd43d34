//! What a compare knows of an application's live objects: each object either read whole, or —
//! served by the shared watch caches, which keep a projection of each object instead of the
//! object — settled: its projection proves it is exactly what was applied and read back last
//! time, so a compare needs nothing more than its health.

use std::collections::HashMap;

use capstan_api::AppliedFingerprints;
use capstan_core::fingerprint;
use capstan_core::health::{Health, assess};
use capstan_core::ignore::IgnoreRule;
use capstan_core::object::{ObjectKey, annotation};
use serde_json::Value;

use crate::prepare::Prepared;

/// An application's live objects as a compare needs them.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Objects read whole (with a GET or a LIST): every existing object not settled.
    pub whole: HashMap<ObjectKey, Value>,
    /// Objects in sync by their projection, with their health.
    pub settled: HashMap<ObjectKey, Health>,
}

impl From<HashMap<ObjectKey, Value>> for Observed {
    fn from(whole: HashMap<ObjectKey, Value>) -> Observed {
        Observed {
            whole,
            settled: HashMap::new(),
        }
    }
}

impl Observed {
    /// How many of the objects exist.
    pub fn len(&self) -> usize {
        self.settled.len() + self.whole.len()
    }

    /// Whether none of the objects exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is settled: in sync by its projection.
    pub fn is_settled(&self, key: &ObjectKey) -> bool {
        self.settled.contains_key(key)
    }

    /// The health of `key`; `None` when it does not exist.
    pub fn health(&self, key: &ObjectKey) -> Option<Health> {
        match self.settled.get(key) {
            Some(health) => Some(health.clone()),
            None => self.whole.get(key).map(assess),
        }
    }
}

/// What the watch caches keep of one live object instead of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Its tracking id, which names the application and the object.
    pub tracking_id: Option<Box<str>>,
    /// Its live fingerprint (`capstan_core::fingerprint::live`); `None` for a Secret.
    pub fingerprint: Option<Box<str>>,
    /// Its health, assessed when it arrived (health reads only the object).
    pub health: Health,
}

impl Projection {
    /// The projection of `live`, known as `key`.
    pub fn of(key: &ObjectKey, live: &Value) -> Projection {
        let tracking_id = annotation(live, capstan_api::TRACKING_ID_ANNOTATION);
        Projection {
            tracking_id: tracking_id.map(Into::into),
            fingerprint: fingerprint::live(key, live).map(Into::into),
            health: assess(live),
        }
    }

    /// Whether `object` is exactly what was applied (`known`) and read back last time, as far
    /// as this projection shows. Never for an object an `ignoreDifferences` rule selects: its
    /// body takes the ignored fields from the live object, which a projection does not hold.
    pub fn settles(
        &self,
        object: &Prepared,
        known: Option<&AppliedFingerprints>,
        rules: &[IgnoreRule],
    ) -> bool {
        let key = &object.key;
        !rules.iter().any(|r| r.selects(key))
            && fingerprint::unchanged_seen(known, &object.obj, self.fingerprint.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use capstan_api::HealthStatus;
    use serde_json::json;

    use super::*;

    fn key() -> ObjectKey {
        let (namespace, name) = ("shop".to_owned(), "cart".to_owned());
        let (group, kind) = ("apps".to_owned(), "Deployment".to_owned());
        ObjectKey {
            group,
            kind,
            namespace,
            name,
        }
    }

    fn prepared(obj: Value) -> Prepared {
        Prepared {
            key: key(),
            api_version: "apps/v1".into(),
            obj,
            resource: None,
            wave: 0,
            options: Default::default(),
        }
    }

    fn live(ready: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "namespace": "shop", "generation": 1,
                "resourceVersion": "5",
                "annotations": {capstan_api::TRACKING_ID_ANNOTATION: "apps/cart:apps/Deployment:shop/cart"}},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                "readyReplicas": ready, "availableReplicas": ready}})
    }

    #[test]
    fn a_projection_settles_what_the_whole_object_would_and_keeps_its_health() {
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "namespace": "shop"}, "spec": {"replicas": 2}});
        let object = prepared(body.clone());
        let known = fingerprint::applied(&key(), &body, &live(2));
        let seen = Projection::of(&key(), &live(1));
        assert_eq!(
            seen.tracking_id.as_deref(),
            Some("apps/cart:apps/Deployment:shop/cart")
        );
        assert_eq!(seen.health, assess(&live(1)));
        assert_ne!(
            seen.health.status,
            HealthStatus::Healthy,
            "one of two ready"
        );
        assert!(
            seen.settles(&object, known.as_ref(), &[]),
            "status only moved"
        );

        let changed = prepared(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "namespace": "shop"}, "spec": {"replicas": 3}}));
        assert!(!seen.settles(&changed, known.as_ref(), &[]), "git changed");
        assert!(!seen.settles(&object, None, &[]), "nothing applied yet");
        let rule = IgnoreRule {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            name: None,
            namespace: None,
            json_pointers: vec!["/spec/replicas".into()],
            managed_fields_managers: Vec::new(),
        };
        assert!(
            !seen.settles(&object, known.as_ref(), &[rule]),
            "an ignore rule reads the live object"
        );
    }

    #[test]
    fn observed_health_comes_from_the_projection_or_the_whole_object() {
        let mut observed = Observed::from(HashMap::from([(key(), live(2))]));
        assert_eq!(observed.health(&key()), Some(assess(&live(2))));
        assert!(observed.len() == 1 && !observed.is_settled(&key()));
        observed.whole.clear();
        assert_eq!(observed.health(&key()), None);
        assert!(observed.is_empty());
        let health = Health::new(HealthStatus::Progressing, "rolling out");
        observed.settled.insert(key(), health.clone());
        assert_eq!(observed.health(&key()), Some(health));
        assert_eq!(observed.len(), 1);
    }
}
