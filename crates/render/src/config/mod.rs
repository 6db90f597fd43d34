//! Transformer configuration: the field specs each built-in transformer uses. The built-in table
//! (`builtin.yaml`) is parsed once per process; a kustomization's `configurations:` files and its
//! `crds:` add to it for that kustomization and everything that includes it.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::fieldspec::{self, FieldSpec};
use crate::resource::Gvk;

/// The kinds a field can refer to by name, and the fields that do.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NameBackReference {
    /// Group of the referred-to kind (any when unset).
    pub group: Option<String>,
    /// Version of the referred-to kind (any when unset).
    pub version: Option<String>,
    /// The referred-to kind.
    pub kind: String,
    /// The referring fields.
    pub field_specs: Vec<FieldSpec>,
}

impl NameBackReference {
    /// Whether objects of `gvk` are what this entry refers to.
    pub fn refers_to(&self, gvk: &Gvk) -> bool {
        self.kind == gvk.kind
            && fieldspec::selects(&self.group, &gvk.group)
            && fieldspec::selects(&self.version, &gvk.version)
    }
}

/// All transformers' field specs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    /// Extra label fields (`configurations:` files' `labels:`), used by every `labels:` entry.
    pub labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackReference>,
    pub var_reference: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
}

static BUILTIN: LazyLock<TransformerConfig> = LazyLock::new(|| {
    // The table is part of the program; a test checks it parses.
    serde_saphyr::from_str::<TransformerConfig>(include_str!("builtin.yaml")).unwrap_or_default()
});

impl TransformerConfig {
    /// The built-in configuration.
    pub fn builtin() -> &'static TransformerConfig {
        &BUILTIN
    }

    /// Parses a `configurations:` file.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }

    /// Adds `other`'s specs to this one's, skipping duplicates.
    pub fn merge(&mut self, other: &TransformerConfig) {
        fn add<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
            for item in from {
                if !into.contains(item) {
                    into.push(item.clone());
                }
            }
        }
        add(&mut self.name_prefix, &other.name_prefix);
        add(&mut self.name_suffix, &other.name_suffix);
        add(&mut self.namespace, &other.namespace);
        add(&mut self.common_labels, &other.common_labels);
        add(&mut self.template_labels, &other.template_labels);
        add(&mut self.labels, &other.labels);
        add(&mut self.common_annotations, &other.common_annotations);
        add(&mut self.var_reference, &other.var_reference);
        add(&mut self.images, &other.images);
        add(&mut self.replicas, &other.replicas);
        for backref in &other.name_reference {
            match self.name_reference.iter_mut().find(|b| {
                b.kind == backref.kind && b.group == backref.group && b.version == backref.version
            }) {
                Some(existing) => add(&mut existing.field_specs, &backref.field_specs),
                None => self.name_reference.push(backref.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_covers_every_transformer() {
        let parsed: TransformerConfig =
            serde_saphyr::from_str(include_str!("builtin.yaml")).expect("builtin.yaml parses");
        assert!(!parsed.name_prefix.is_empty());
        assert!(!parsed.namespace.is_empty());
        assert!(!parsed.common_labels.is_empty());
        assert!(!parsed.template_labels.is_empty());
        assert!(!parsed.common_annotations.is_empty());
        assert!(!parsed.images.is_empty());
        assert!(!parsed.replicas.is_empty());
        assert!(!parsed.var_reference.is_empty());
        assert!(parsed.name_reference.iter().any(|b| b.kind == "ConfigMap"));
    }
}
