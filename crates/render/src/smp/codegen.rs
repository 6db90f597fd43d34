//! Generates the built-in merge-key schema (`builtin_schema.json`) from a kube-apiserver's
//! `/openapi/v2` document: a pruned OpenAPI v2 document keeping only what strategic merge needs.
//!
//! Kept: every definition with `x-kubernetes-group-version-kind` (so kinds stay known), and of
//! each kept definition the properties that lead, through objects, maps and merging lists, to a
//! list whose patch strategy contains `merge`, plus any property with a patch strategy. Lists
//! keep their strategy, keys and list type. Descriptions and everything else are dropped.
//!
//! The generator also adds the resource types kustomize's own built-in schema (Kubernetes
//! v1.21.2) knows but current API servers no longer serve, when they have merging lists, as
//! aliases of their current definitions ([`LEGACY_ALIASES`]).
//!
//! Regenerate with `CAPSTAN_BLESS=1 cargo test -p capstan-testenv --test openapi_schema_fresh`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// Resource types of kustomize's built-in schema that API servers no longer serve, each with
/// the served type whose definition describes it: `(legacy apiVersion, kind, current apiVersion)`.
pub const LEGACY_ALIASES: &[(&str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
    ),
    ("batch/v1beta1", "CronJob", "batch/v1"),
    ("policy/v1beta1", "PodDisruptionBudget", "policy/v1"),
];

const GVK: &str = "x-kubernetes-group-version-kind";
const LIST_KEYS: [&str; 4] = [
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
];

/// The pruned schema for an OpenAPI v2 document, as the text of `builtin_schema.json`: one
/// definition per line, names sorted, ending in a newline.
pub fn schema_from_openapi(doc: &Value) -> String {
    let empty = Map::new();
    let defs = doc
        .get("definitions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let useful = useful_definitions(defs);
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for (name, def) in defs {
        if useful.contains(name.as_str()) || def.get(GVK).is_some() {
            out.insert(name.clone(), prune_object(def, &useful));
        }
    }
    add_legacy_aliases(&mut out);
    render(doc, &out)
}

/// Names of definitions that lead to a merging list (a fixpoint over `$ref`s).
fn useful_definitions(defs: &Map<String, Value>) -> BTreeSet<String> {
    let mut useful = BTreeSet::new();
    loop {
        let before = useful.len();
        for (name, def) in defs {
            if !useful.contains(name) && leads_to_merge(def, &useful) {
                useful.insert(name.clone());
            }
        }
        if useful.len() == before {
            return useful;
        }
    }
}

/// Whether a schema node is, or leads to, a list whose strategy contains `merge`.
fn leads_to_merge(node: &Value, useful: &BTreeSet<String>) -> bool {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        return ref_name(reference).is_some_and(|n| useful.contains(n));
    }
    if is_merging_list(node) {
        return true;
    }
    let in_properties = node
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|props| props.values().any(|p| leads_to_merge(p, useful)));
    in_properties
        || node
            .get("additionalProperties")
            .is_some_and(|a| a.is_object() && leads_to_merge(a, useful))
}

fn is_merging_list(node: &Value) -> bool {
    node.get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(',').any(|p| p == "merge"))
}

fn ref_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/definitions/")
}

/// A definition or inline object reduced to its group-version-kinds and useful fields.
fn prune_object(node: &Value, useful: &BTreeSet<String>) -> Value {
    let mut out = Map::new();
    if let Some(gvk) = node.get(GVK) {
        out.insert(GVK.to_string(), gvk.clone());
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        let kept: Map<String, Value> = props
            .iter()
            .filter(|(_, p)| leads_to_merge(p, useful) || p.get(LIST_KEYS[0]).is_some())
            .map(|(k, p)| (k.clone(), prune_field(p, useful)))
            .collect();
        if !kept.is_empty() {
            out.insert("properties".to_string(), Value::Object(kept));
        }
    }
    if let Some(extra) = node.get("additionalProperties")
        && extra.is_object()
        && leads_to_merge(extra, useful)
    {
        out.insert(
            "additionalProperties".to_string(),
            prune_field(extra, useful),
        );
    }
    Value::Object(out)
}

/// A property (or list items) reduced to what merging reads.
fn prune_field(node: &Value, useful: &BTreeSet<String>) -> Value {
    let mut out = Map::new();
    for key in LIST_KEYS {
        if let Some(v) = node.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    if let Some(reference) = node.get("$ref") {
        // A reference to a definition that was pruned away would dangle: drop it.
        if leads_to_merge(node, useful) {
            out.insert("$ref".to_string(), reference.clone());
        }
        return Value::Object(out);
    }
    if node.get("type").and_then(Value::as_str) == Some("array") {
        out.insert("type".to_string(), json!("array"));
        if let Some(items) = node.get("items")
            && items.is_object()
            && leads_to_merge(items, useful)
        {
            out.insert("items".to_string(), prune_field(items, useful));
        }
        return Value::Object(out);
    }
    if let Value::Object(object) = prune_object(node, useful) {
        out.extend(object);
    }
    Value::Object(out)
}

/// Appends [`LEGACY_ALIASES`] to the kinds of the definitions describing their current types.
fn add_legacy_aliases(defs: &mut BTreeMap<String, Value>) {
    for (legacy, kind, current) in LEGACY_ALIASES {
        let owner = defs.iter().find_map(|(name, def)| {
            let gvks = def.get(GVK)?.as_array()?;
            gvks.iter()
                .any(|g| gvk_matches(g, current, kind))
                .then(|| name.clone())
        });
        let Some(owner) = owner else { continue };
        let (group, version) = legacy.rsplit_once('/').unwrap_or(("", legacy));
        let entry = json!({"group": group, "kind": kind, "version": version});
        if let Some(list) = defs
            .get_mut(&owner)
            .and_then(|d| d.get_mut(GVK))
            .and_then(Value::as_array_mut)
            && !list.contains(&entry)
        {
            list.push(entry);
        }
    }
}

fn gvk_matches(gvk: &Value, api_version: &str, kind: &str) -> bool {
    let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    field("kind") == kind && field("group") == group && field("version") == version
}

fn render(doc: &Value, defs: &BTreeMap<String, Value>) -> String {
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let mut out = String::from("{\n");
    out.push_str(&format!(
        "\"info\": {},\n",
        json!({
            "title": "Capstan built-in merge-key schema",
            "version": version,
            "x-capstan-regenerate":
                "CAPSTAN_BLESS=1 cargo test -p capstan-testenv --test openapi_schema_fresh",
        })
    ));
    out.push_str("\"definitions\": {\n");
    let lines: Vec<String> = defs
        .iter()
        .map(|(name, def)| format!("{}: {}", Value::String(name.clone()), def))
        .collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n}\n}\n");
    out
}
