//! Turns rendered objects into objects ready to compare and apply: identity, API resource,
//! namespace (the default for namespaced kinds without one; none for cluster-scoped kinds),
//! tracking id, wave and sync options. Kinds the cluster does not serve yet are accepted when a
//! CRD in the same set declares them; they are resolved after that CRD is established.

use std::collections::{BTreeSet, HashMap};

use capstan_core::object::{ObjectKey, str_at};
use capstan_core::options::SyncOptions;
use capstan_core::plan::wave_of;
use capstan_core::tracking::AppId;
use serde_json::Value;

use crate::discovery::{Catalog, Resource};
use crate::error::ClusterError;

/// A desired object ready for the cluster.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its identity (namespace filled in).
    pub key: ObjectKey,
    /// Its apiVersion.
    pub api_version: String,
    /// The object as it is sent, tracking id included.
    pub obj: Value,
    /// Where it lives in the API; `None` until the CRD declaring its kind is served.
    pub resource: Option<Resource>,
    /// Its sync wave.
    pub wave: i64,
    /// Its sync options.
    pub options: SyncOptions,
}

impl Prepared {
    /// The version of its apiVersion (`v1` of `apps/v1`).
    pub fn version(&self) -> &str {
        self.api_version.rsplit('/').next().unwrap_or_default()
    }

    /// The object's identity and API resource, once the resource is known.
    pub fn located(&self) -> Option<(ObjectKey, Resource)> {
        Some((self.key.clone(), self.resource.clone()?))
    }
}

/// The objects of `prepared` whose API resource is known, as `live::fetch` takes them.
pub fn located<'a>(prepared: impl IntoIterator<Item = &'a Prepared>) -> Vec<(ObjectKey, Resource)> {
    prepared.into_iter().filter_map(Prepared::located).collect()
}

/// Prepares `objects` for `app`, defaulting namespaces to `namespace`.
pub fn prepare(
    objects: Vec<Value>,
    catalog: &Catalog,
    namespace: &str,
    app: &AppId,
    options: SyncOptions,
) -> Result<Vec<Prepared>, ClusterError> {
    let declared = declared_kinds(&objects);
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(objects.len());
    for (index, mut obj) in objects.into_iter().enumerate() {
        let invalid = |e: &dyn std::fmt::Display| ClusterError::Invalid(e.to_string());
        let mut key = ObjectKey::of(&obj, index).map_err(|e| invalid(&e))?;
        let api_version = str_at(&obj, &["apiVersion"]).unwrap_or_default().to_owned();
        let resource = catalog.resolve(&api_version, &key.kind);
        let namespaced = match (
            &resource,
            declared.get(&(key.group.clone(), key.kind.clone())),
        ) {
            (Some(resource), _) => resource.namespaced,
            (None, Some(&namespaced)) => namespaced,
            (None, None) => {
                return Err(ClusterError::UnknownKind {
                    kind: key.kind.clone(),
                    key: Box::new(key),
                    api_version,
                });
            }
        };
        set_namespace(&mut obj, &mut key, namespaced, namespace);
        if !seen.insert(key.clone()) {
            return Err(ClusterError::Invalid(format!("{key} is declared twice")));
        }
        let name = key.to_string();
        let options = options.for_object(&obj, &name).map_err(|e| invalid(&e))?;
        let wave = wave_of(&obj, &key).map_err(|e| invalid(&e))?;
        app.mark(&mut obj, &key);
        out.push(Prepared {
            key,
            api_version,
            obj,
            resource,
            wave,
            options,
        });
    }
    Ok(out)
}

/// Resolves objects whose kind was not served yet; returns those still unresolved.
pub fn resolve_pending(prepared: &mut [Prepared], catalog: &Catalog) -> Vec<ObjectKey> {
    let mut missing = Vec::new();
    for object in prepared.iter_mut().filter(|p| p.resource.is_none()) {
        object.resource = catalog.resolve(&object.api_version, &object.key.kind);
        if object.resource.is_none() {
            missing.push(object.key.clone());
        }
    }
    missing
}

/// Fills in or removes `metadata.namespace` by scope.
fn set_namespace(obj: &mut Value, key: &mut ObjectKey, namespaced: bool, default: &str) {
    let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if !namespaced {
        metadata.remove("namespace");
        key.namespace.clear();
    } else if key.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(default.to_owned()));
        key.namespace = default.to_owned();
    }
}

/// The (group, kind) → namespaced pairs that CRDs in `objects` declare.
fn declared_kinds(objects: &[Value]) -> HashMap<(String, String), bool> {
    objects
        .iter()
        .filter(|o| {
            str_at(o, &["kind"]) == Some("CustomResourceDefinition")
                && str_at(o, &["apiVersion"])
                    .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
        })
        .filter_map(|crd| {
            let group = str_at(crd, &["spec", "group"])?.to_owned();
            let kind = str_at(crd, &["spec", "names", "kind"])?.to_owned();
            let namespaced = str_at(crd, &["spec", "scope"]) != Some("Cluster");
            Some(((group, kind), namespaced))
        })
        .collect()
}
