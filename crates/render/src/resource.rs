//! Resources as kustomize tracks them: the object itself plus the identity it was first loaded
//! with and every name and namespace it has had since, which name references and patch targets
//! are matched against.

use std::fmt;

use serde_json::{Map, Value};

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Gvk {
    /// API group; empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Parses `apiVersion` (`group/version` or `version`) and `kind`.
    pub fn new(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Self {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// The group, version and kind of an object.
    pub fn of(obj: &Value) -> Self {
        Self::new(str_at(obj, &["apiVersion"]), str_at(obj, &["kind"]))
    }

    /// Whether objects of this kind live outside namespaces (built-in kinds only; unknown kinds
    /// are taken to be namespaced, as kustomize does).
    pub fn is_cluster_scoped(&self) -> bool {
        crate::scope::is_cluster_scoped(self)
    }
}

impl fmt::Display for Gvk {
    /// Kustomize's form: `Kind.version.group`, `[noGrp]` for the core group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "[noGrp]"
        } else {
            &self.group
        };
        let version = if self.version.is_empty() {
            "[noVer]"
        } else {
            &self.version
        };
        write!(f, "{}.{}.{}", self.kind, version, group)
    }
}

/// A resource's identity: group, version, kind, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ResId {
    /// Group, version and kind.
    pub gvk: Gvk,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (empty when unset or cluster-scoped).
    pub namespace: String,
}

impl ResId {
    /// Whether two ids name the same object, treating an unset namespace as `default` for
    /// namespaced kinds.
    pub fn same_namespace(&self, other: &ResId) -> bool {
        effective_namespace(&self.gvk, &self.namespace)
            == effective_namespace(&other.gvk, &other.namespace)
    }
}

/// The namespace an object lands in: `""` for cluster-scoped kinds, `default` when unset.
pub fn effective_namespace<'a>(gvk: &Gvk, namespace: &'a str) -> &'a str {
    if gvk.is_cluster_scoped() {
        ""
    } else if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

impl fmt::Display for ResId {
    /// Kustomize's form: `Kind.version.group/name.namespace`, `[noNs]` when unset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{}/{}.{}", self.gvk, self.name, ns)
    }
}

/// One object in a build.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object.
    pub obj: Value,
    /// Identities it had before renames (prefix/suffix, namespace, patches), oldest first. The
    /// first entry is the identity it was loaded or generated with.
    pub previous: Vec<ResId>,
    /// For generated ConfigMaps and Secrets: append the content hash to the name at the end.
    pub needs_hash: bool,
    /// Where it came from, for the `config.kubernetes.io/origin` annotation.
    pub origin: Option<crate::origin::Origin>,
    /// Transformations applied to it, for `alpha.config.kubernetes.io/transformations`.
    pub transformations: Vec<Value>,
    /// Name prefixes applied to it, innermost first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied to it, innermost first.
    pub suffixes: Vec<String>,
}

impl Resource {
    /// Wraps an object read from a file or generated.
    pub fn new(obj: Value) -> Self {
        Self {
            obj,
            previous: Vec::new(),
            needs_hash: false,
            origin: None,
            transformations: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
        }
    }

    /// Its current identity.
    pub fn id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// Whether it is or was ever named `name`.
    pub fn had_name(&self, name: &str) -> bool {
        self.name() == name || self.previous.iter().any(|id| id.name == name)
    }

    /// Every identity it has had, oldest first, ending with the current one.
    pub fn all_ids(&self) -> impl Iterator<Item = ResId> + '_ {
        self.previous
            .iter()
            .cloned()
            .chain(std::iter::once(self.id()))
    }

    /// Its group, version and kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::of(&self.obj)
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"])
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }

    /// Records the current identity before a rename.
    pub fn remember_id(&mut self) {
        let id = self.id();
        if self.previous.last() != Some(&id) {
            self.previous.push(id);
        }
    }

    /// Replaces the object (a patch's result), remembering the old identity if it changed.
    pub fn replace_obj(&mut self, obj: Value) {
        let before = self.id();
        self.obj = obj;
        if self.id() != before && self.previous.last() != Some(&before) {
            self.previous.push(before);
        }
    }

    /// Sets `metadata.name`, remembering the old identity.
    pub fn set_name(&mut self, name: &str) {
        self.remember_id();
        set_at(
            &mut self.obj,
            &["metadata", "name"],
            Value::String(name.to_string()),
        );
    }

    /// Sets `metadata.namespace`, remembering the old identity.
    pub fn set_namespace(&mut self, namespace: &str) {
        self.remember_id();
        set_at(
            &mut self.obj,
            &["metadata", "namespace"],
            Value::String(namespace.to_string()),
        );
    }

    /// The labels or annotations map (`which` is `labels` or `annotations`).
    pub fn meta_map(&self, which: &str) -> Option<&Map<String, Value>> {
        self.obj.get("metadata")?.get(which)?.as_object()
    }
}

/// The string at a path of map keys, or `""`.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = value;
    for key in path {
        match cur.get(key) {
            Some(v) => cur = v,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// Sets the value at a path of map keys, creating maps on the way (replacing non-maps).
pub fn set_at(value: &mut Value, path: &[&str], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *value = new;
        return;
    };
    let mut cur = value;
    for key in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        cur = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(map) = cur {
        map.insert(last.to_string(), new);
    }
}
