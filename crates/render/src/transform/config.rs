//! `configurations:` and `crds:`: extra field specs for a kustomization's transformers.

use serde_json::Value;

use crate::config::{NameBackReference, TransformerConfig};
use crate::error::RenderError;
use crate::fieldspec::FieldSpec;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::yaml;

/// Adds the field specs of `k`'s `configurations` files to `config`.
pub fn load_configurations(
    loader: &Loader<'_>,
    file: &str,
    k: &Kustomization,
    config: &mut TransformerConfig,
) -> Result<(), RenderError> {
    for (i, entry) in k.configurations.iter().enumerate() {
        let field = format!("configurations[{i}]");
        let text = loader
            .read_text(entry)
            .map_err(|e| RenderError::field(file, field.clone(), e))?;
        for doc in yaml::parse_documents(&text, entry)? {
            let extra = TransformerConfig::from_value(doc)
                .map_err(|e| RenderError::field(file, field.clone(), format!("{entry}: {e}")))?;
            config.merge(&extra);
        }
    }
    Ok(())
}

/// Adds name references declared by `crds:` files: Go OpenAPI definitions whose properties carry
/// `x-kubernetes-object-ref-kind` (and `-api-version`) refer to objects of that kind by name.
pub fn load_crds(
    loader: &Loader<'_>,
    file: &str,
    k: &Kustomization,
    config: &mut TransformerConfig,
) -> Result<(), RenderError> {
    for (i, entry) in k.crds.iter().enumerate() {
        let field = format!("crds[{i}]");
        let text = loader
            .read_text(entry)
            .map_err(|e| RenderError::field(file, field.clone(), e))?;
        let doc = yaml::parse_value(&text, entry)?;
        let Some(defs) = doc.as_object() else {
            return Err(RenderError::field(
                file,
                field,
                format!("{entry}: expected a map of definitions"),
            ));
        };
        let mut extra = TransformerConfig::default();
        for (name, def) in defs {
            let kind = name.rsplit('.').next().unwrap_or(name);
            let schema = def.get("Schema").unwrap_or(def);
            object_refs(defs, schema, kind, "", 0, &mut extra);
        }
        config.merge(&extra);
    }
    Ok(())
}

/// Definitions followed through `$ref`s before giving up (bounds a cyclic document).
const MAX_CRD_DEPTH: usize = 8;

fn object_refs(
    defs: &serde_json::Map<String, Value>,
    schema: &Value,
    kind: &str,
    path: &str,
    depth: usize,
    out: &mut TransformerConfig,
) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    if depth > MAX_CRD_DEPTH {
        return;
    }
    for (prop, value) in props {
        let here = if path.is_empty() {
            prop.clone()
        } else {
            format!("{path}/{prop}")
        };
        if let Some(target) = value
            .get("x-kubernetes-object-ref-kind")
            .and_then(Value::as_str)
        {
            let version = value
                .get("x-kubernetes-object-ref-api-version")
                .and_then(Value::as_str)
                .map(String::from);
            out.name_reference.push(NameBackReference {
                group: None,
                version,
                kind: target.to_string(),
                field_specs: vec![FieldSpec {
                    kind: Some(kind.to_string()),
                    path: format!("{here}/name"),
                    ..FieldSpec::default()
                }],
            });
            continue;
        }
        if let Some(next) = value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| defs.get(r))
        {
            let next = next.get("Schema").unwrap_or(next);
            object_refs(defs, next, kind, &here, depth + 1, out);
        }
    }
}
