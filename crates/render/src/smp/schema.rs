//! The merge-key schema: which lists a strategic merge patch merges element by element, and by
//! which keys. Read from OpenAPI v2 documents — the built-in one generated from a real
//! kube-apiserver (`builtin_schema.json`, see [`crate::smp::codegen`]) or one a kustomization names
//! with `openapi: {path: ...}`.
//!
//! Lookups follow kustomize (kyaml): a field's schema is its property, else the object's
//! `additionalProperties`; `$ref`s are resolved within the same document (a `$ref` replaces the
//! property, so extensions written beside a `$ref` are ignored); a list merges by key only when
//! its `x-kubernetes-patch-strategy` contains `merge`, and its keys are
//! `x-kubernetes-list-map-keys` if present, else `x-kubernetes-patch-merge-key`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

/// The only built-in schema version kustomize v5.8.1 accepts in `openapi: {version: ...}`.
/// Capstan maps it to its own built-in schema.
pub const BUILTIN_VERSION: &str = "v1.21.2";

/// The generated built-in schema (a pruned OpenAPI v2 document).
pub const BUILTIN_SCHEMA_JSON: &str = include_str!("builtin_schema.json");

/// How deep `$ref` chains are followed before giving up (guards against cycles).
const MAX_REF_HOPS: usize = 32;

/// Why a schema could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The document is not a JSON/YAML object.
    #[error("read openapi schema: the document is not an object")]
    NotAnObject,
    /// `definitions` is present but not an object.
    #[error("read openapi schema: definitions is not an object")]
    DefinitionsNotAnObject,
    /// A definition is not an object.
    #[error("read openapi schema: definition {definition} is not an object")]
    DefinitionNotAnObject {
        /// The definition's name.
        definition: String,
    },
    /// An `x-kubernetes-group-version-kind` entry is malformed.
    #[error(
        "read openapi schema: definition {definition} has a malformed \
         x-kubernetes-group-version-kind (each entry needs string kind and version)"
    )]
    BadGroupVersionKind {
        /// The definition's name.
        definition: String,
    },
    /// The embedded built-in schema failed to parse (a build defect).
    #[error("parse the built-in openapi schema: {reason}")]
    Builtin {
        /// The parser's message.
        reason: String,
    },
    /// `openapi: {version: ...}` names a version that is not built in.
    #[error("the specified OpenAPI version is not built in")]
    UnknownVersion {
        /// The version asked for.
        version: String,
    },
    /// `openapi` has both `version` and `path`.
    #[error("builtin version and custom schema provided, cannot use both")]
    VersionAndPath,
}

/// A set of OpenAPI definitions indexed for merging: definitions by name and resource types
/// (`apiVersion`, `kind`) by the definition that describes them.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    definitions: HashMap<String, Value>,
    kinds: HashMap<(String, String), String>,
}

static BUILTIN: LazyLock<Result<Schema, SchemaError>> = LazyLock::new(|| {
    let doc: Value =
        serde_json::from_str(BUILTIN_SCHEMA_JSON).map_err(|e| SchemaError::Builtin {
            reason: e.to_string(),
        })?;
    Schema::from_openapi(&doc)
});

impl Schema {
    /// The built-in schema for Kubernetes' own kinds, parsed once per process.
    pub fn builtin() -> Result<&'static Schema, SchemaError> {
        BUILTIN.as_ref().map_err(Clone::clone)
    }

    /// Reads the `definitions` of an OpenAPI v2 document (JSON, or YAML parsed into a `Value`).
    /// Definitions carrying `x-kubernetes-group-version-kind` describe resources of those kinds.
    /// Only this document is used; see [`Schema::with_builtin`] to add the built-in one.
    pub fn from_openapi(doc: &Value) -> Result<Schema, SchemaError> {
        let doc = doc.as_object().ok_or(SchemaError::NotAnObject)?;
        let definitions = match doc.get("definitions") {
            None | Some(Value::Null) => return Ok(Schema::default()),
            Some(Value::Object(defs)) => defs,
            Some(_) => return Err(SchemaError::DefinitionsNotAnObject),
        };
        let mut schema = Schema::default();
        for (name, def) in definitions {
            if !def.is_object() {
                return Err(SchemaError::DefinitionNotAnObject {
                    definition: name.clone(),
                });
            }
            for gvk in group_version_kinds(name, def)? {
                // Definitions are visited in name order; the first to claim a kind keeps it.
                schema.kinds.entry(gvk).or_insert_with(|| name.clone());
            }
            schema.definitions.insert(name.clone(), def.clone());
        }
        Ok(schema)
    }

    /// This schema extended with the built-in one. Built-in definitions and kinds win over
    /// same-named ones here, as when kustomize parses the built-in schema after a custom one.
    pub fn with_builtin(&self) -> Result<Schema, SchemaError> {
        let builtin = Schema::builtin()?;
        let mut merged = self.clone();
        merged.definitions.extend(
            builtin
                .definitions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        merged
            .kinds
            .extend(builtin.kinds.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(merged)
    }

    /// The schema a kustomization's `openapi` field selects: `version` (only
    /// [`BUILTIN_VERSION`]) or none gives the built-in schema; a document loaded from `path`
    /// gives that document alone.
    ///
    /// Kustomize keeps one schema per build, set by the top kustomization or else by the first
    /// base or component that names one. If, before that happened, kustomize had already looked
    /// up the namespace scope of a kind outside its precomputed table (a CRD, say), the built-in
    /// schema is loaded as well; callers model that with [`Schema::with_builtin`].
    pub fn for_kustomization(
        version: Option<&str>,
        custom: Option<&Value>,
    ) -> Result<Cow<'static, Schema>, SchemaError> {
        match (version, custom) {
            (Some(_), Some(_)) => Err(SchemaError::VersionAndPath),
            (_, Some(doc)) => Ok(Cow::Owned(Schema::from_openapi(doc)?)),
            (Some(v), None) if !v.is_empty() && v != BUILTIN_VERSION => {
                Err(SchemaError::UnknownVersion {
                    version: v.to_string(),
                })
            }
            _ => Ok(Cow::Borrowed(Schema::builtin()?)),
        }
    }

    /// The schema of a resource type, if known.
    pub fn resource(&self, api_version: &str, kind: &str) -> Option<SchemaNode<'_>> {
        let name = self
            .kinds
            .get(&(api_version.to_string(), kind.to_string()))?;
        let node = self.definitions.get(name)?;
        self.resolve(node)
    }

    /// Whether the schema knows a resource type.
    pub fn knows_kind(&self, api_version: &str, kind: &str) -> bool {
        self.resource(api_version, kind).is_some()
    }

    /// Number of definitions held.
    pub fn definition_count(&self) -> usize {
        self.definitions.len()
    }

    /// Follows `$ref`s from a schema node until a node without one.
    fn resolve<'a>(&'a self, mut node: &'a Value) -> Option<SchemaNode<'a>> {
        for _ in 0..MAX_REF_HOPS {
            match node.get("$ref") {
                None => {
                    return Some(SchemaNode { schema: self, node });
                }
                Some(Value::String(reference)) => {
                    let name = definition_name(reference)?;
                    node = self.definitions.get(&name)?;
                }
                Some(_) => return None,
            }
        }
        None
    }
}

/// The `(apiVersion, kind)` pairs a definition declares.
fn group_version_kinds(name: &str, def: &Value) -> Result<Vec<(String, String)>, SchemaError> {
    let bad = || SchemaError::BadGroupVersionKind {
        definition: name.to_string(),
    };
    let Some(entries) = def.get("x-kubernetes-group-version-kind") else {
        return Ok(Vec::new());
    };
    let entries = entries.as_array().ok_or_else(bad)?;
    let mut out = Vec::new();
    for entry in entries {
        let kind = entry.get("kind").and_then(Value::as_str).ok_or_else(bad)?;
        let version = entry
            .get("version")
            .and_then(Value::as_str)
            .ok_or_else(bad)?;
        let api_version = match entry.get("group").and_then(Value::as_str) {
            Some(group) if !group.is_empty() => format!("{group}/{version}"),
            _ => version.to_string(),
        };
        out.push((api_version, kind.to_string()));
    }
    Ok(out)
}

/// `#/definitions/NAME` → `NAME` (JSON-pointer escapes undone).
fn definition_name(reference: &str) -> Option<String> {
    let name = reference.strip_prefix("#/definitions/")?;
    if name.contains('/') {
        return None;
    }
    Some(name.replace("~1", "/").replace("~0", "~"))
}

/// One node of a [`Schema`]: the schema of a resource, a field or a list's elements.
#[derive(Debug, Clone, Copy)]
pub struct SchemaNode<'a> {
    schema: &'a Schema,
    node: &'a Value,
}

impl<'a> SchemaNode<'a> {
    /// The schema of a field of this object: its property, else `additionalProperties`.
    pub fn field(&self, name: &str) -> Option<SchemaNode<'a>> {
        let child = self
            .node
            .get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| {
                self.node
                    .get("additionalProperties")
                    .filter(|a| a.is_object())
            })?;
        self.schema.resolve(child)
    }

    /// The schema of this list's elements (only for nodes of type `array` with `items`).
    pub fn elements(&self) -> Option<SchemaNode<'a>> {
        let is_array = match self.node.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(ts)) => ts.len() == 1 && ts[0] == "array",
            _ => false,
        };
        if !is_array {
            return None;
        }
        let items = self.node.get("items").filter(|i| i.is_object())?;
        self.schema.resolve(items)
    }

    /// `x-kubernetes-patch-strategy`, e.g. `merge`, `retainKeys` or `merge,retainKeys`.
    pub fn patch_strategy(&self) -> Option<&'a str> {
        self.node
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
    }

    /// Whether a list with this schema merges element by element (its strategy has `merge`).
    pub fn merges_elements(&self) -> bool {
        self.patch_strategy()
            .is_some_and(|s| s.split(',').any(|part| part == "merge"))
    }

    /// The keys that identify a list element: empty without a patch strategy or for a list of
    /// primitives; else `x-kubernetes-list-map-keys`, else `x-kubernetes-patch-merge-key`.
    pub fn merge_keys(&self) -> Vec<&'a str> {
        if self.patch_strategy().is_none() {
            return Vec::new();
        }
        if let Some(keys) = self
            .node
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
        {
            return keys.iter().filter_map(Value::as_str).collect();
        }
        self.node
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .into_iter()
            .collect()
    }

    /// `x-kubernetes-list-type` (`atomic`, `set` or `map`), informational: kustomize's merge
    /// does not use it.
    pub fn list_type(&self) -> Option<&'a str> {
        self.node
            .get("x-kubernetes-list-type")
            .and_then(Value::as_str)
    }
}
