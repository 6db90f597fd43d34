//! Object identity: what makes two objects "the same object" (group, kind, namespace, name — not
//! the version, which the API server converts between), read from an object's own fields.

use std::fmt;

use serde_json::Value;

/// Why an object could not be identified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// A required field is absent or not a string.
    #[error("object {index} has no {field}")]
    MissingField {
        /// The position of the object in its list (from 0).
        index: usize,
        /// The field, e.g. `metadata.name`.
        field: &'static str,
    },
    /// Two desired objects have the same identity.
    #[error("{key} is declared twice")]
    Duplicate {
        /// The repeated identity.
        key: ObjectKey,
    },
}

/// The identity of an object. Ordered by group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The API group; empty for the core group.
    pub group: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// Reads the identity of `obj`, the `index`-th object of its list (for error messages).
    pub fn of(obj: &Value, index: usize) -> Result<ObjectKey, ObjectError> {
        let field = |field: &'static str, value: Option<&str>| {
            value
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(ObjectError::MissingField { index, field })
        };
        let api_version = field("apiVersion", str_at(obj, &["apiVersion"]))?;
        Ok(ObjectKey {
            group: group_of(&api_version).to_owned(),
            kind: field("kind", str_at(obj, &["kind"]))?,
            namespace: str_at(obj, &["metadata", "namespace"])
                .unwrap_or("")
                .to_owned(),
            name: field("metadata.name", str_at(obj, &["metadata", "name"]))?,
        })
    }

    /// The apiVersion of this object's kind at `version`: `group/version`, or `version` for the
    /// core group.
    pub fn api_version(&self, version: &str) -> String {
        match self.group.as_str() {
            "" => version.to_owned(),
            group => format!("{group}/{version}"),
        }
    }

    /// The inventory entry of this object applied with `version`, without fingerprints.
    pub fn entry(&self, version: &str) -> capstan_api::InventoryEntry {
        capstan_api::InventoryEntry {
            group: self.group.clone(),
            version: version.to_owned(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            applied: None,
        }
    }

    /// `group/Kind`, or `Kind` for the core group.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        }
    }
}

impl fmt::Display for ObjectKey {
    /// `Kind ns/name` (core group) or `group/Kind ns/name`; `Kind name` when cluster-scoped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.group_kind())?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)
    }
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The string at `path` in `obj`, if every step exists and the leaf is a string.
pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    value_at(obj, path)?.as_str()
}

/// The value at `path` (object keys) in `obj`.
pub fn value_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |node, key| node.get(key))
}

/// The annotation `key` of `obj`.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// Sets the annotation `key` of `obj` to `value`, creating `metadata.annotations` as needed.
/// Does nothing when `obj` or its metadata is not a map.
pub fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    set_metadata_entry(obj, "annotations", key, value);
}

/// Sets the label `key` of `obj` to `value`, creating `metadata.labels` as needed. Does nothing
/// when `obj` or its metadata is not a map.
pub fn set_label(obj: &mut Value, key: &str, value: &str) {
    set_metadata_entry(obj, "labels", key, value);
}

/// Sets `metadata.<map>.<key>` of `obj` to `value`, creating the maps as needed.
fn set_metadata_entry(obj: &mut Value, map: &str, key: &str, value: &str) {
    let Some(metadata) = obj.as_object_mut().map(|o| {
        o.entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()))
    }) else {
        return;
    };
    let Some(entries) = metadata.as_object_mut().map(|m| {
        m.entry(map)
            .or_insert_with(|| Value::Object(Default::default()))
    }) else {
        return;
    };
    if let Some(entries) = entries.as_object_mut() {
        entries.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identity_ignores_the_version_and_names_missing_fields() {
        let a = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}});
        let b = json!({"apiVersion": "apps/v1beta2", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}});
        let key = ObjectKey::of(&a, 0).unwrap();
        assert_eq!(key, ObjectKey::of(&b, 1).unwrap());
        assert_eq!(key.to_string(), "apps/Deployment prod/web");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
        assert_eq!(ObjectKey::of(&ns, 0).unwrap().to_string(), "Namespace prod");
        let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        assert_eq!(
            ObjectKey::of(&nameless, 3).unwrap_err().to_string(),
            "object 3 has no metadata.name"
        );
    }

    #[test]
    fn set_annotation_creates_the_map_and_overwrites() {
        let mut obj = json!({"metadata": {"name": "x"}});
        set_annotation(&mut obj, "a", "1");
        set_annotation(&mut obj, "a", "2");
        assert_eq!(annotation(&obj, "a"), Some("2"));
        let mut not_a_map = json!([1]);
        set_annotation(&mut not_a_map, "a", "1");
        assert_eq!(not_a_map, json!([1]));
    }
}
