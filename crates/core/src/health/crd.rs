//! CustomResourceDefinition health: names rejected (a conflict with another CRD) is `Degraded`,
//! `Established` is `Healthy`, and a CRD still installing is `Progressing`. A CRD being deleted
//! (while its instances are cleaned up) is `Progressing` through the rule every deleted object
//! follows.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, healthy, progressing};

/// The health of an `apiextensions.k8s.io/v1` CustomResourceDefinition.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let conditions = fields::conditions(obj)?;
    if let Some(cond) = fields::find(&conditions, "NamesAccepted")
        && cond.is_false()
    {
        return Ok(degraded(cond.explain("names not accepted")));
    }
    Ok(match fields::find(&conditions, "Established") {
        Some(cond) if cond.is_true() => healthy("established"),
        Some(cond) if cond.is_false() && cond.reason != "Installing" => {
            degraded(cond.explain("not established"))
        }
        _ => progressing("waiting to be established"),
    })
}
