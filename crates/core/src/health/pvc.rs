//! PersistentVolumeClaim health from its phase: `Bound` is `Healthy`, `Pending` is
//! `Progressing`, `Lost` (the bound volume is gone) is `Degraded`.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, healthy, progressing, unknown};

/// The health of a `v1` PersistentVolumeClaim.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let volume = fields::string(obj, &["spec", "volumeName"])?.unwrap_or_default();
    Ok(match fields::string(obj, &["status", "phase"])? {
        Some("Bound") if volume.is_empty() => healthy("bound"),
        Some("Bound") => healthy(format!("bound to volume {volume}")),
        Some("Pending") => progressing("waiting for a volume to be bound"),
        Some("Lost") if volume.is_empty() => degraded("the bound volume was lost"),
        Some("Lost") => degraded(format!("the bound volume {volume} was lost")),
        Some(other) => unknown(format!("claim phase is {other}")),
        None => unknown("claim reports no phase"),
    })
}
