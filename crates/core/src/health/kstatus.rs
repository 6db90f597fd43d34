//! The generic rule for every kind without one of its own, after kstatus (the convention Flux
//! and kpt use): `Stalled` is `Degraded`; `Reconciling`, a lagging `observedGeneration` and a
//! `Ready` or `Available` condition that is not true are `Progressing`; no status is `Healthy`.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, generation_pending, healthy, progressing};

/// The health of an object of any kind from its generic status fields.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let conditions = fields::conditions(obj)?;
    let holds = |kind| fields::find(&conditions, kind).filter(|c| c.is_true());
    if let Some(cond) = holds("Stalled") {
        return Ok(degraded(cond.explain("stalled")));
    }
    if let Some(pending) = generation_pending(obj, false)? {
        return Ok(pending);
    }
    if let Some(cond) = holds("Reconciling") {
        return Ok(progressing(cond.explain("reconciling")));
    }
    for kind in ["Ready", "Available"] {
        if let Some(cond) = fields::find(&conditions, kind) {
            return Ok(if cond.is_true() {
                healthy(cond.explain(&kind.to_lowercase()))
            } else {
                progressing(cond.explain(&format!("not {}", kind.to_lowercase())))
            });
        }
    }
    Ok(healthy(""))
}
