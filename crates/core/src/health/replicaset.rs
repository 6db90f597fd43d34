//! ReplicaSet health: a `ReplicaFailure` condition is `Degraded`, fewer available replicas than
//! wanted is `Progressing`.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, generation_pending, healthy, progressing};

/// The health of an `apps/v1` ReplicaSet.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    if let Some(pending) = generation_pending(obj, true)? {
        return Ok(pending);
    }
    let conditions = fields::conditions(obj)?;
    if let Some(cond) = fields::find(&conditions, "ReplicaFailure")
        && cond.is_true()
    {
        return Ok(degraded(cond.explain("cannot create replicas")));
    }
    let desired = fields::desired(obj, &["spec", "replicas"])?;
    let available = fields::count(obj, &["status", "availableReplicas"])?;
    if available < desired {
        return Ok(progressing(format!(
            "waiting for replicas: {available} of {desired} are available"
        )));
    }
    Ok(healthy(format!(
        "{available} of {desired} replicas are available"
    )))
}
