//! Deployment health: paused is `Suspended`, a rollout past its progress deadline is `Degraded`,
//! a rollout that has not caught up is `Progressing` (with `kubectl rollout status`'s wording).

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, generation_pending, healthy, progressing, suspended};

/// The health of an `apps/v1` Deployment.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    if fields::flag(obj, &["spec", "paused"])? {
        return Ok(suspended("rollout is paused"));
    }
    if let Some(pending) = generation_pending(obj, true)? {
        return Ok(pending);
    }
    let conditions = fields::conditions(obj)?;
    if let Some(cond) = fields::find(&conditions, "Progressing")
        && cond.reason == "ProgressDeadlineExceeded"
    {
        return Ok(degraded(
            cond.explain("rollout exceeded its progress deadline"),
        ));
    }
    let desired = fields::desired(obj, &["spec", "replicas"])?;
    let replicas = fields::count(obj, &["status", "replicas"])?;
    let updated = fields::count(obj, &["status", "updatedReplicas"])?;
    let available = fields::count(obj, &["status", "availableReplicas"])?;
    if updated < desired {
        return Ok(progressing(format!(
            "waiting for rollout: {updated} of {desired} new replicas are updated"
        )));
    }
    if replicas > updated {
        let old = replicas.saturating_sub(updated);
        return Ok(progressing(format!(
            "waiting for rollout: {old} old replicas are pending termination"
        )));
    }
    if available < updated {
        return Ok(progressing(format!(
            "waiting for rollout: {available} of {updated} updated replicas are available"
        )));
    }
    Ok(healthy(format!(
        "{available} of {desired} replicas are available"
    )))
}
