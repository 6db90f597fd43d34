//! Combining a generated object with the object of the same id accumulated before it, as
//! kustomize does when an overlay's generator has `behavior: merge` or `replace`.
//!
//! The result is the *generated* object (so its `type`, `immutable`, ... win and the existing
//! object's other fields are dropped), except that:
//! - `metadata.name` and `metadata.namespace` are the existing object's (its identity);
//! - labels and annotations are the union of both, the generated object's winning on a shared
//!   key; kustomize's internal build annotations (`internal.config.kubernetes.io/...` and the
//!   legacy `config.kubernetes.io/path`, `.../index`, `config.k8s.io/id`) come only from the
//!   existing object, and with `merge` so does `config.kubernetes.io/origin` when it has one;
//! - with `merge`, `data` and `binaryData` are the union of both (generated values winning),
//!   every value as a string, and a field left empty is removed.
//!
//! The merged object needs a name hash only when both the existing object and the generated one
//! did: a `disableNameSuffixHash` on either side wins, and a plain (non-generated) object never
//! needs one. (Kustomize's `internal.config.kubernetes.io/needsHashSuffix` annotation, should a
//! caller keep it, is kept by the same rule.)

use serde_json::{Map, Value};

use super::hash::scalar_text;
use super::{Behavior, GeneratorError};

const ORIGIN: &str = "config.kubernetes.io/origin";
const BUILD_PREFIX: &str = "internal.config.kubernetes.io/";
const NEEDS_HASH: &str = "internal.config.kubernetes.io/needsHashSuffix";
const LEGACY_BUILD: &[&str] = &[
    "config.kubernetes.io/path",
    "config.kubernetes.io/index",
    "config.k8s.io/id",
];

/// Applies `generated` (with `behavior`) to the `existing` object of the same id, in place.
/// `Create` is an error: kustomize refuses to generate an object whose id already exists.
pub fn merge_generated(
    existing: &mut Value,
    generated: &Value,
    behavior: Behavior,
) -> Result<(), GeneratorError> {
    let name = |v: &Value| {
        v.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if behavior == Behavior::Create {
        return Err(GeneratorError::AlreadyExists {
            name: name(generated),
        });
    }
    let (Value::Object(old), Value::Object(new)) = (&*existing, generated) else {
        return Err(GeneratorError::NotAnObject {
            name: name(generated),
        });
    };
    let mut result = new.clone();
    let old_meta = meta(old);
    let mut new_meta = meta(&result);
    for key in ["name", "namespace"] {
        match old_meta.get(key) {
            Some(v) => new_meta.insert(key.to_string(), v.clone()),
            None => new_meta.remove(key),
        };
    }
    let labels = union(old_meta.get("labels"), new_meta.get("labels"));
    set_or_remove(&mut new_meta, "labels", labels);
    let annotations = merged_annotations(&old_meta, &new_meta, behavior);
    set_or_remove(&mut new_meta, "annotations", annotations);
    result.insert("metadata".into(), Value::Object(new_meta));
    if behavior == Behavior::Merge {
        for field in ["data", "binaryData"] {
            let merged = union(old.get(field), result.get(field));
            set_or_remove(&mut result, field, merged);
        }
    }
    *existing = Value::Object(result);
    Ok(())
}

fn meta(object: &Map<String, Value>) -> Map<String, Value> {
    match object.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn is_build_annotation(key: &str) -> bool {
    key.starts_with(BUILD_PREFIX) || LEGACY_BUILD.contains(&key)
}

fn merged_annotations(
    old_meta: &Map<String, Value>,
    new_meta: &Map<String, Value>,
    behavior: Behavior,
) -> Map<String, Value> {
    let old = old_meta.get("annotations");
    let mut merged = union(old, new_meta.get("annotations"));
    merged.retain(|k, _| !is_build_annotation(k));
    let mut keep_from_old = |key: &str| {
        if let Some(v) = old.and_then(|o| o.get(key)) {
            merged.insert(key.to_string(), Value::String(scalar_text(v)));
        }
    };
    if let Some(Value::Object(o)) = old {
        let new_needs_hash = matches!(new_meta.get("annotations"),
            Some(Value::Object(a)) if a.contains_key(NEEDS_HASH));
        for key in o.keys().filter(|k| is_build_annotation(k)) {
            if key != NEEDS_HASH || new_needs_hash {
                keep_from_old(key);
            }
        }
    }
    if behavior == Behavior::Merge {
        keep_from_old(ORIGIN);
    }
    merged
}

/// The string map `base` overlaid with `top`, every value as its scalar text.
fn union(base: Option<&Value>, top: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for source in [base, top].into_iter().flatten() {
        if let Value::Object(m) = source {
            for (k, v) in m {
                out.insert(k.clone(), Value::String(scalar_text(v)));
            }
        }
    }
    out
}

fn set_or_remove(target: &mut Map<String, Value>, key: &str, value: Map<String, Value>) {
    if value.is_empty() {
        target.remove(key);
    } else {
        target.insert(key.to_string(), Value::Object(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "p-cm", "namespace": "base",
                "labels": {"a": "base", "b": "base"},
                "annotations": {"x": "base", "config.kubernetes.io/origin": "path: base",
                    "internal.config.kubernetes.io/previousNames": "cm"}},
            "immutable": true,
            "data": {"k1": "base", "k2": "base", "n": 12}})
    }

    fn overlay() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "labels": {"b": "ov"},
                "annotations": {"config.kubernetes.io/origin": "path: overlay",
                    "internal.config.kubernetes.io/previousNames": "other"}},
            "data": {"k2": "ov"}})
    }

    #[test]
    fn merge_unions_data_and_metadata_and_keeps_the_existing_identity() {
        let mut obj = base();
        merge_generated(&mut obj, &overlay(), Behavior::Merge).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "p-cm", "namespace": "base",
                    "labels": {"a": "base", "b": "ov"},
                    "annotations": {"x": "base", "config.kubernetes.io/origin": "path: base",
                        "internal.config.kubernetes.io/previousNames": "cm"}},
                "data": {"k1": "base", "k2": "ov", "n": "12"}})
        );
    }

    #[test]
    fn replace_takes_the_generated_content_but_still_merges_labels_and_annotations() {
        let mut obj = base();
        merge_generated(&mut obj, &overlay(), Behavior::Replace).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "p-cm", "namespace": "base",
                    "labels": {"a": "base", "b": "ov"},
                    "annotations": {"x": "base", "config.kubernetes.io/origin": "path: overlay",
                        "internal.config.kubernetes.io/previousNames": "cm"}},
                "data": {"k2": "ov"}})
        );
    }

    #[test]
    fn merging_binary_data_and_emptiness_follow_kustomize() {
        let mut obj = json!({"kind": "ConfigMap", "metadata": {"name": "c"},
            "binaryData": {"b": "AA=="}, "data": {}});
        let gen_ = json!({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}});
        merge_generated(&mut obj, &gen_, Behavior::Merge).unwrap();
        assert_eq!(
            obj,
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "binaryData": {"b": "AA=="}})
        );
    }

    #[test]
    fn create_over_an_existing_object_is_an_error() {
        let err = merge_generated(&mut base(), &overlay(), Behavior::Create).unwrap_err();
        assert!(err.to_string().contains("cm"), "{err}");
        let err = merge_generated(&mut json!([]), &overlay(), Behavior::Merge).unwrap_err();
        assert!(matches!(err, GeneratorError::NotAnObject { .. }));
    }
}
