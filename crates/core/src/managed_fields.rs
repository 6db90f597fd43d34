//! Reads `metadata.managedFields` (the `FieldsV1` sets of server-side apply) to find the fields a
//! given field manager owns, and removes those fields from an object. Used for
//! `ignoreDifferences.managedFieldsManagers`: fields another controller owns (replicas under an
//! HPA, say) are left out of both the comparison and Capstan's apply.
//!
//! A `FieldsV1` set is a tree whose keys are `f:<field>` (a map field), `k:<json>` (a list element
//! identified by its key fields), `v:<json>` (a set element by value), `i:<n>` (a list element by
//! index), and `.` (the node itself).

use serde_json::{Map, Value};

use crate::object::value_at;

/// The `fieldsV1` trees of every `managedFields` entry of `live` whose manager is in `managers`.
pub fn owned_by<'a>(live: &'a Value, managers: &[String]) -> Vec<&'a Value> {
    let Some(entries) = value_at(live, &["metadata", "managedFields"]).and_then(Value::as_array)
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|entry| {
            entry
                .get("manager")
                .and_then(Value::as_str)
                .is_some_and(|m| managers.iter().any(|wanted| wanted == m))
        })
        .filter_map(|entry| entry.get("fieldsV1"))
        .collect()
}

/// Removes from `target` every leaf field listed in the `fields` set. A node listed with
/// children loses only those children; fields not present in `target` are skipped.
pub fn remove_fields(target: &mut Value, fields: &Value) {
    let Some(set) = fields.as_object() else {
        return;
    };
    for (step, children) in set {
        if step == "." {
            continue;
        }
        let leaf = is_leaf(children);
        if let Some(name) = step.strip_prefix("f:") {
            let Some(map) = target.as_object_mut() else {
                continue;
            };
            if leaf {
                map.remove(name);
            } else if let Some(child) = map.get_mut(name) {
                remove_fields(child, children);
            }
        } else if let Some(list) = target.as_array_mut()
            && let Some(index) = element_index(list, step)
        {
            if leaf {
                list.remove(index);
            } else if let Some(child) = list.get_mut(index) {
                remove_fields(child, children);
            }
        }
    }
}

/// Whether a set node names a field as a whole: no children other than `.`.
fn is_leaf(node: &Value) -> bool {
    node.as_object()
        .is_none_or(|children| children.keys().all(|k| k == "."))
}

/// The position in `list` of the element a `k:`, `v:` or `i:` step names.
fn element_index(list: &[Value], step: &str) -> Option<usize> {
    if let Some(key) = step.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        list.iter().position(|item| {
            key.iter()
                .all(|(field, value)| item.get(field).is_some_and(|v| same_key_value(v, value)))
        })
    } else if let Some(value) = step.strip_prefix("v:") {
        let value: Value = serde_json::from_str(value).ok()?;
        list.iter().position(|item| *item == value)
    } else {
        let index: usize = step.strip_prefix("i:")?.parse().ok()?;
        (index < list.len()).then_some(index)
    }
}

/// Key values compare as JSON, except that a number key may be written as a number or an
/// equal float (`containerPort: 80`).
fn same_key_value(a: &Value, b: &Value) -> bool {
    a == b || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn removes_map_fields_keyed_list_elements_and_set_values_a_manager_owns() {
        let mut obj = json!({
            "spec": {
                "replicas": 5,
                "template": {"spec": {"containers": [
                    {"name": "a", "image": "a:1", "resources": {"requests": {"cpu": "1"}}},
                    {"name": "b", "image": "b:1"}
                ]}},
                "finalizers": ["x", "y"],
                "ports": [{"containerPort": 80, "protocol": "TCP"}]
            }
        });
        let fields = json!({
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"a\"}": {".": {}, "f:resources": {"f:requests": {"f:cpu": {}}}},
                    "k:{\"name\":\"b\"}": {".": {}}
                }}},
                "f:finalizers": {"v:\"y\"": {}},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}
            },
            "f:missing": {"f:deep": {}}
        });
        remove_fields(&mut obj, &fields);
        assert_eq!(
            obj,
            json!({"spec": {
                "template": {"spec": {"containers": [
                    {"name": "a", "image": "a:1", "resources": {"requests": {}}}
                ]}},
                "finalizers": ["x"],
                "ports": []
            }})
        );
    }

    #[test]
    fn finds_the_sets_of_the_named_managers_only() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "capstan", "fieldsV1": {"f:a": {}}},
            {"manager": "kube-controller-manager", "fieldsV1": {"f:b": {}}},
            {"manager": "hpa"}
        ]}});
        let managers = vec!["kube-controller-manager".to_owned(), "hpa".to_owned()];
        assert_eq!(owned_by(&live, &managers), vec![&json!({"f:b": {}})]);
        assert!(owned_by(&json!({}), &managers).is_empty());
    }
}
