//! APIService health from its `Available` condition: `Healthy` when true, `Progressing` until
//! then (the aggregated API server may still be starting).

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, healthy, progressing};

/// The health of an `apiregistration.k8s.io/v1` APIService.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let conditions = fields::conditions(obj)?;
    Ok(match fields::find(&conditions, "Available") {
        Some(cond) if cond.is_true() => healthy(cond.explain("available")),
        Some(cond) => progressing(cond.explain("not available")),
        None => progressing("waiting for the Available condition"),
    })
}
