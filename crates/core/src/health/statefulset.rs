//! StatefulSet health, aware of the update strategy: with `OnDelete` pods are replaced by hand,
//! so ready pods are enough; with a rolling update `partition`, only the pods at or above the
//! partition ordinal must be updated.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, ON_DELETE_NOTE, generation_pending, healthy, progressing, updates_on_delete};

/// The health of an `apps/v1` StatefulSet.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    if let Some(pending) = generation_pending(obj, true)? {
        return Ok(pending);
    }
    let desired = fields::desired(obj, &["spec", "replicas"])?;
    let replicas = fields::count(obj, &["status", "replicas"])?;
    let ready = fields::count(obj, &["status", "readyReplicas"])?;
    let updated = fields::count(obj, &["status", "updatedReplicas"])?;
    if ready < desired {
        return Ok(progressing(format!(
            "waiting for pods: {ready} of {desired} are ready"
        )));
    }
    if replicas > desired {
        let extra = replicas.saturating_sub(desired);
        return Ok(progressing(format!(
            "waiting for {extra} extra pods to terminate"
        )));
    }
    if updates_on_delete(obj)? {
        return Ok(healthy(format!(
            "{ready} of {desired} pods are ready, {updated} updated {ON_DELETE_NOTE}"
        )));
    }
    let partition = fields::count(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
    )?;
    if partition > 0 {
        return Ok(partitioned(desired, updated, partition));
    }
    let revision = fields::string(obj, &["status", "updateRevision"])?.unwrap_or_default();
    let current = fields::string(obj, &["status", "currentRevision"])?.unwrap_or_default();
    let at = if revision.is_empty() {
        String::new()
    } else {
        format!(" at revision {revision}")
    };
    if updated < desired || revision != current {
        return Ok(progressing(format!(
            "waiting for rollout: {updated} of {desired} pods are updated{at}"
        )));
    }
    Ok(healthy(format!("{ready} of {desired} pods are ready{at}")))
}

/// A rolling update held at `partition`: only ordinals `partition..desired` are updated.
fn partitioned(desired: i64, updated: i64, partition: i64) -> Health {
    let target = desired.saturating_sub(partition).max(0);
    if updated < target {
        progressing(format!(
            "waiting for partitioned rollout: {updated} of {target} new pods are updated \
             (partition {partition})"
        ))
    } else {
        healthy(format!(
            "partitioned rollout complete: {updated} of {desired} pods are updated \
             (partition {partition})"
        ))
    }
}
