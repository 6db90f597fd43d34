//! `replicas:`: set the replica count of the named workloads.

use serde_json::Value;

use crate::error::RenderError;
use crate::fieldspec::{self, FieldSpec};
use crate::kustomization::Replica;
use crate::resmap::ResMap;

/// Sets `spec.replicas` (or the configured field) of every resource a `replicas` entry names;
/// resources are matched by any name they have had.
pub fn apply(
    res: &mut ResMap,
    replicas: &[Replica],
    specs: &[FieldSpec],
    file: &str,
) -> Result<(), RenderError> {
    for (i, entry) in replicas.iter().enumerate() {
        if entry.name.is_empty() {
            return Err(RenderError::field(
                file,
                format!("replicas[{i}].name"),
                "must not be empty",
            ));
        }
        let mut matched = false;
        for r in &mut res.items {
            if !r.all_ids().any(|id| id.name == entry.name) {
                continue;
            }
            let gvk = r.gvk();
            matched |= specs.iter().any(|f| f.matches(&gvk));
            for spec in specs.iter().filter(|f| f.matches(&gvk)) {
                let path = fieldspec::parse_path(&spec.path);
                fieldspec::walk::<RenderError>(&mut r.obj, &path, spec.create, &mut |v| {
                    *v = Value::from(entry.count);
                    Ok(())
                })?;
            }
        }
        if !matched {
            let kinds: Vec<&str> = specs.iter().filter_map(|f| f.kind.as_deref()).collect();
            return Err(RenderError::field(
                file,
                format!("replicas[{i}]"),
                format!(
                    "resource with name {} does not match a config with the following kinds {kinds:?}",
                    entry.name
                ),
            ));
        }
    }
    Ok(())
}
