//! HorizontalPodAutoscaler health from its conditions (`status.conditions` in `autoscaling/v2`,
//! the `autoscaling.alpha.kubernetes.io/conditions` annotation in `autoscaling/v1`): unable to
//! read or update the target's scale, or to read its metrics, is `Degraded`; able to scale is
//! `Healthy`; no verdict yet is `Progressing`.

use serde_json::Value;

use super::fields::{self, Condition, Invalid, Read};
use super::{Health, degraded, healthy, progressing};

const ANNOTATION: [&str; 3] = [
    "metadata",
    "annotations",
    "autoscaling.alpha.kubernetes.io/conditions",
];

/// The health of an `autoscaling` HorizontalPodAutoscaler, any version.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    match fields::string(obj, &ANNOTATION)? {
        Some(text) if fields::field(obj, &["status", "conditions"])?.is_none() => {
            let parsed: Value =
                serde_json::from_str(text).map_err(|_| Invalid::new(&ANNOTATION, "JSON"))?;
            let items = parsed
                .as_array()
                .ok_or_else(|| Invalid::new(&ANNOTATION, "a JSON list"))?;
            Ok(judge(&fields::conditions_in(items, &ANNOTATION)?))
        }
        _ => Ok(judge(&fields::conditions(obj)?)),
    }
}

fn judge(conditions: &[Condition<'_>]) -> Health {
    if let Some(cond) = conditions.iter().find(|c| is_failure(c)) {
        return degraded(cond.explain("cannot autoscale"));
    }
    let able = fields::find(conditions, "AbleToScale");
    if let Some(cond) = able.filter(|c| c.is_true()) {
        let limited = fields::find(conditions, "ScalingLimited").filter(|c| c.is_true());
        return healthy(limited.unwrap_or(cond).explain("able to scale"));
    }
    match able {
        Some(cond) => progressing(cond.explain("waiting to autoscale")),
        None => progressing("waiting to autoscale"),
    }
}

/// A false condition whose reason says the autoscaler cannot do its job: it failed to read or
/// update the target's scale subresource, to read a metric, or to use the selector.
fn is_failure(cond: &Condition<'_>) -> bool {
    if !cond.is_false() {
        return false;
    }
    match cond.kind {
        "AbleToScale" => matches!(cond.reason, "FailedGetScale" | "FailedUpdateScale"),
        "ScalingActive" => {
            cond.reason.starts_with("FailedGet")
                || matches!(cond.reason, "InvalidSelector" | "InvalidMetricSourceType")
        }
        _ => false,
    }
}
