//! `namespace:` (kustomize's NamespaceTransformer): sets the namespace of every namespaced
//! object, renames a core `Namespace` object to it, and moves the `default` ServiceAccount
//! subjects of role bindings along.

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::RenderError;
use crate::fieldspec::{self, FieldSpec};
use crate::resmap::ResMap;

/// Which role-binding subjects follow the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subjects {
    /// ServiceAccount subjects named `default` (kustomize's default).
    #[default]
    DefaultOnly,
    /// Every ServiceAccount subject.
    AllServiceAccounts,
    /// None.
    None,
}

/// The transformer's settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The namespace.
    pub namespace: String,
    /// Only set it where none is set.
    pub unset_only: bool,
    /// Which subjects follow.
    pub subjects: Subjects,
    /// Field specs overriding the configuration's, when given.
    pub field_specs: Option<Vec<FieldSpec>>,
}

impl Settings {
    /// Settings for a kustomization's `namespace:` field.
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            ..Self::default()
        }
    }
}

/// Applies the namespace to every resource.
pub fn apply(
    res: &mut ResMap,
    config: &TransformerConfig,
    s: &Settings,
) -> Result<(), RenderError> {
    let specs = s.field_specs.as_ref().unwrap_or(&config.namespace);
    for r in &mut res.items {
        let gvk = r.gvk();
        if gvk.kind == "Namespace" && gvk.group.is_empty() {
            if !s.unset_only && r.name() != s.namespace {
                r.set_name(&s.namespace);
            }
            continue;
        }
        if is_binding(&gvk.group, &gvk.kind) {
            set_subjects(&mut r.obj, s);
        }
        for spec in specs.iter().filter(|f| f.matches(&gvk)) {
            if spec.path == "metadata/namespace" {
                if gvk.is_cluster_scoped() {
                    continue;
                }
                let current = r.namespace().to_string();
                if current == s.namespace || (s.unset_only && !current.is_empty()) {
                    continue;
                }
                r.set_namespace(&s.namespace);
                continue;
            }
            let path = fieldspec::parse_path(&spec.path);
            fieldspec::walk::<RenderError>(&mut r.obj, &path, spec.create, &mut |v| {
                if !(s.unset_only && v.as_str().is_some_and(|c| !c.is_empty())) {
                    *v = Value::String(s.namespace.clone());
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn is_binding(group: &str, kind: &str) -> bool {
    group == "rbac.authorization.k8s.io" && (kind == "RoleBinding" || kind == "ClusterRoleBinding")
}

fn set_subjects(obj: &mut Value, s: &Settings) {
    let Some(Value::Array(subjects)) = obj.get_mut("subjects") else {
        return;
    };
    for subject in subjects {
        let is_sa = subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
        let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
        let follows = match s.subjects {
            Subjects::DefaultOnly => is_sa && name == "default",
            Subjects::AllServiceAccounts => is_sa,
            Subjects::None => false,
        };
        if follows && let Value::Object(map) = subject {
            map.insert("namespace".into(), Value::String(s.namespace.clone()));
        }
    }
}
