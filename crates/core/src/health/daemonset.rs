//! DaemonSet health: `Progressing` until every scheduled node runs an updated, available pod;
//! with the `OnDelete` strategy pods are replaced only by hand, so it is `Healthy` once observed.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, ON_DELETE_NOTE, generation_pending, healthy, progressing, updates_on_delete};

/// The health of an `apps/v1` DaemonSet.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    if let Some(pending) = generation_pending(obj, true)? {
        return Ok(pending);
    }
    let desired = fields::count(obj, &["status", "desiredNumberScheduled"])?;
    let updated = fields::count(obj, &["status", "updatedNumberScheduled"])?;
    let available = fields::count(obj, &["status", "numberAvailable"])?;
    if updates_on_delete(obj)? {
        return Ok(healthy(format!(
            "{updated} of {desired} pods are updated {ON_DELETE_NOTE}"
        )));
    }
    if updated < desired {
        return Ok(progressing(format!(
            "waiting for rollout: {updated} of {desired} new pods are updated"
        )));
    }
    if available < desired {
        return Ok(progressing(format!(
            "waiting for rollout: {available} of {desired} updated pods are available"
        )));
    }
    Ok(healthy(format!(
        "{available} of {desired} pods are available"
    )))
}
