//! Ingress health: `Progressing` until the ingress controller publishes an address in
//! `status.loadBalancer.ingress`. Also reads that list for `LoadBalancer` Services.

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, healthy, progressing};

const INGRESS: [&str; 3] = ["status", "loadBalancer", "ingress"];

/// The health of a `networking.k8s.io/v1` Ingress.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    Ok(match load_balancer_address(obj)? {
        Some(address) => healthy(address),
        None => progressing("waiting for the ingress controller to publish an address"),
    })
}

/// `None` while `status.loadBalancer.ingress` is empty; otherwise a message naming the
/// addresses (some controllers publish entries without an IP or hostname, which still count).
pub(super) fn load_balancer_address(obj: &Value) -> Read<Option<String>> {
    let entries = fields::list(obj, &INGRESS)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let mut addresses = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        for key in ["ip", "hostname"] {
            let address = fields::string(entry, &[key]).map_err(|e| e.under(&INGRESS, index))?;
            if let Some(address) = address {
                addresses.push(address);
            }
        }
    }
    Ok(Some(if addresses.is_empty() {
        "load balancer is provisioned".to_string()
    } else {
        format!("reachable at {}", addresses.join(", "))
    }))
}
