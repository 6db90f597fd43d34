//! The last steps of a build, done once at the top: content-hash suffixes on generated names,
//! name references, variables, dropping local-only objects, ordering, and removing what the
//! build used internally.

use serde_json::Value;

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::transform::{nameref, sort::Order, vars};

/// The annotation that marks an object as input to the build only.
pub const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";

/// Finishes `acc` into the output objects, ordered by `order`.
pub fn finish(mut acc: Accumulator, order: &Order) -> Result<Vec<Value>, RenderError> {
    add_hashes(&mut acc)?;
    nameref::apply(&mut acc.resources, &acc.config.name_reference)?;
    vars::apply(&mut acc)?;
    acc.resources.items.retain(|r| !is_local(&r.obj));
    order.sort(&mut acc.resources.items);
    Ok(acc.resources.items.into_iter().map(|r| r.obj).collect())
}

fn add_hashes(acc: &mut Accumulator) -> Result<(), RenderError> {
    for r in &mut acc.resources.items {
        if r.needs_hash {
            let hash = crate::generators::name_hash(&r.obj)
                .map_err(|e| RenderError::transform(format!("{}: {e}", r.id())))?;
            let name = format!("{}-{hash}", r.name());
            r.set_name(&name);
        }
    }
    Ok(())
}

fn is_local(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LOCAL_CONFIG))
        .is_some_and(|v| v.as_str().is_some_and(|s| s.trim() == "true") || v == &Value::Bool(true))
}
