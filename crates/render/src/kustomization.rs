//! The kustomization file: finding it in a directory, reading it, and its fields.
//!
//! Field names match case-insensitively (kustomize reads them through Go's JSON decoder, which
//! does); unknown fields are an error naming the field. Legacy fields are folded into their
//! successors on load: `bases` into `resources`, `imageTags` into `images`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::fields::{UnknownField, fold_fields};

/// File names that make a directory a kustomization, in kustomize's order of preference.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The API version of kustomizations.
pub const API_VERSION: &str = "kustomize.config.k8s.io/v1beta1";
/// The API version components must use.
pub const COMPONENT_API_VERSION: &str = "kustomize.config.k8s.io/v1alpha1";

/// Why a kustomization could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KustomizationError {
    /// Not a mapping.
    #[error("{file}: a kustomization must be a mapping")]
    NotAMap {
        /// The file.
        file: String,
    },
    /// A field kustomize does not know.
    #[error("{file}: invalid Kustomization: unknown field \"{field}\"")]
    UnknownField {
        /// The file.
        file: String,
        /// The field as written.
        field: String,
    },
    /// A field of the wrong shape.
    #[error("{file}: invalid Kustomization: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// A kustomization (or component).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct Kustomization {
    pub api_version: String,
    pub kind: String,
    pub metadata: Value,
    pub openapi: BTreeMap<String, String>,
    pub name_prefix: String,
    pub name_suffix: String,
    pub namespace: String,
    pub common_labels: BTreeMap<String, String>,
    pub labels: Vec<Labels>,
    pub common_annotations: BTreeMap<String, String>,
    pub patches_strategic_merge: Vec<Value>,
    #[serde(rename = "patchesJson6902")]
    pub patches_json6902: Vec<Patch>,
    pub patches: Vec<Patch>,
    pub images: Vec<Image>,
    pub replacements: Vec<Value>,
    pub replicas: Vec<Replica>,
    pub vars: Vec<Value>,
    pub sort_options: Option<Value>,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub crds: Vec<String>,
    pub config_map_generator: Vec<Value>,
    pub secret_generator: Vec<Value>,
    pub generator_options: Option<Value>,
    pub configurations: Vec<String>,
    pub generators: Vec<String>,
    pub transformers: Vec<String>,
    pub validators: Vec<String>,
    pub build_metadata: Vec<String>,
    pub helm_charts: Vec<Value>,
    pub helm_globals: Option<Value>,
}

/// An entry of `labels`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Labels {
    pub pairs: BTreeMap<String, String>,
    pub include_selectors: bool,
    pub include_templates: bool,
    pub fields: Vec<Value>,
}

/// An entry of `patches` or `patchesJson6902`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Target>,
    pub options: BTreeMap<String, bool>,
}

/// A patch target selector.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Target {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

/// An entry of `images`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Image {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<Value>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

/// An entry of `replicas`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// The canonical spelling of every field.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
    "helmCharts",
    "helmGlobals",
    // Legacy, folded into `resources` and `images` on load.
    "bases",
    "imageTags",
];

impl Kustomization {
    /// Reads a kustomization from its parsed YAML; `file` names it in errors.
    pub fn from_value(value: Value, file: &str) -> Result<Self, KustomizationError> {
        let map = match value {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                return Err(KustomizationError::NotAMap {
                    file: file.to_string(),
                });
            }
        };
        let mut fixed = fold_fields(map, FIELDS, true).map_err(|UnknownField(field)| {
            KustomizationError::UnknownField {
                file: file.to_string(),
                field,
            }
        })?;
        let bases = fixed.remove("bases").map(as_list).unwrap_or_default();
        let image_tags = fixed.remove("imageTags").map(as_list).unwrap_or_default();
        if !bases.is_empty() {
            let resources = fixed
                .entry("resources")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = resources {
                list.extend(bases);
            }
        }
        if !image_tags.is_empty() {
            let images = fixed
                .entry("images")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = images {
                list.extend(image_tags);
            }
        }
        serde_json::from_value(Value::Object(fixed)).map_err(|e| KustomizationError::Invalid {
            file: file.to_string(),
            message: e.to_string(),
        })
    }

    /// Whether this is a `kind: Component`.
    pub fn is_component(&self) -> bool {
        self.kind == "Component"
    }
}

fn as_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(list) => list,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_names_match_case_insensitively_and_legacy_fields_fold_in() {
        let k = Kustomization::from_value(
            json!({"nameprefix": "p-", "resources": ["a.yaml"], "bases": ["../base"],
                   "imageTags": [{"name": "nginx", "newTag": "1"}]}),
            "k.yaml",
        )
        .unwrap();
        assert_eq!(k.name_prefix, "p-");
        assert_eq!(k.resources, vec!["a.yaml", "../base"]);
        assert_eq!(k.images[0].name, "nginx");
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_it() {
        let err = Kustomization::from_value(json!({"namePrefixx": "p-"}), "o/k.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "o/k.yaml: invalid Kustomization: unknown field \"namePrefixx\""
        );
    }
}
