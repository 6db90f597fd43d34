//! `commonLabels`, `labels` and `commonAnnotations`: add key/value pairs to the maps the field
//! specs name (metadata, selectors, pod templates), creating them where the spec says so.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::TransformerConfig;
use crate::error::RenderError;
use crate::fieldspec::{self, FieldSpec};
use crate::kustomization::Labels;
use crate::resmap::ResMap;

/// The field specs one `labels:` entry uses.
pub fn specs_for(
    entry: &Labels,
    config: &TransformerConfig,
    file: &str,
) -> Result<Vec<FieldSpec>, RenderError> {
    let mut specs = if entry.include_selectors {
        config.common_labels.clone()
    } else if entry.include_templates {
        config.template_labels.clone()
    } else {
        vec![FieldSpec::any("metadata/labels", true)]
    };
    for spec in &config.labels {
        if !specs.contains(spec) {
            specs.push(spec.clone());
        }
    }
    for (i, field) in entry.fields.iter().enumerate() {
        let spec: FieldSpec = serde_json::from_value(field.clone())
            .map_err(|e| RenderError::field(file, format!("labels.fields[{i}]"), e))?;
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    Ok(specs)
}

/// Adds `pairs` at every field `specs` select.
pub fn apply(
    res: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), RenderError> {
    for r in &mut res.items {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|f| f.matches(&gvk)) {
            let path = fieldspec::parse_path(&spec.path);
            let id = r.id();
            fieldspec::walk::<RenderError>(&mut r.obj, &path, spec.create, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                let Value::Object(map) = v else {
                    return Err(RenderError::transform(format!(
                        "{id}: {}: expected a map of strings",
                        spec.path
                    )));
                };
                for (k, val) in pairs {
                    map.insert(k.clone(), Value::String(val.clone()));
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
