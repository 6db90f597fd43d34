//! Job health from its conditions: `Failed` (or `FailureTarget`, set while a failing Job stops
//! its pods) is `Degraded`, `Complete` is `Healthy`, a suspended Job is `Suspended`, and a Job
//! still running is `Progressing`.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, healthy, progressing, suspended};

/// The health of a `batch/v1` Job.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let conditions = fields::conditions(obj)?;
    let holds = |kind| fields::find(&conditions, kind).filter(|c| c.is_true());
    if let Some(cond) = holds("Failed").or_else(|| holds("FailureTarget")) {
        return Ok(degraded(cond.explain("job failed")));
    }
    if let Some(cond) = holds("Complete") {
        return Ok(healthy(cond.explain("job completed")));
    }
    if let Some(cond) = holds("Suspended") {
        return Ok(suspended(cond.explain("job is suspended")));
    }
    if fields::flag(obj, &["spec", "suspend"])? {
        return Ok(suspended("job is suspended"));
    }
    let active = fields::count(obj, &["status", "active"])?;
    let succeeded = fields::count(obj, &["status", "succeeded"])?;
    let failed = fields::count(obj, &["status", "failed"])?;
    Ok(progressing(format!(
        "running: {active} active, {succeeded} succeeded, {failed} failed pods"
    )))
}
