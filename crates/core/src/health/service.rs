//! Service health: a `LoadBalancer` Service is `Progressing` until its load balancer reports an
//! ingress point; every other type is `Healthy` as soon as it exists.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, healthy, ingress, progressing};

/// The health of a `v1` Service.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let kind = fields::string(obj, &["spec", "type"])?.unwrap_or("ClusterIP");
    if kind != "LoadBalancer" {
        return Ok(healthy(""));
    }
    Ok(match ingress::load_balancer_address(obj)? {
        Some(address) => healthy(address),
        None => progressing("waiting for the load balancer to get an address"),
    })
}
