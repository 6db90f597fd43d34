//! `ignoreDifferences`: fields left out of the comparison, by JSON pointer (RFC 6901) or by the
//! field manager that owns them, for the objects a rule selects (group, kind — `*` for any —
//! and optionally name and namespace). The same rules shape what Capstan applies, so an ignored
//! field is never reverted: see [`respect`].

use serde_json::Value;

use crate::managed_fields;
use crate::object::ObjectKey;

/// One `ignoreDifferences` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreRule {
    /// The API group (empty for core); `None` matches any group.
    pub group: Option<String>,
    /// The kind, or `*`.
    pub kind: String,
    /// Only the object of this name.
    pub name: Option<String>,
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// JSON pointers of ignored fields, e.g. `/spec/replicas`.
    pub json_pointers: Vec<String>,
    /// Field managers whose fields are ignored, e.g. `kube-controller-manager`.
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreRule {
    /// Whether this rule selects the object `key`.
    pub fn selects(&self, key: &ObjectKey) -> bool {
        let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        (self.kind == "*" || self.kind == key.kind)
            && matches(&self.group, &key.group)
            && matches(&self.name, &key.name)
            && matches(&self.namespace, &key.namespace)
    }
}

/// Removes the fields the rules selecting `key` ignore from both sides of a comparison. Manager
/// rules read ownership from `live_managed`, the live object before normalization.
pub fn strip(rules: &[IgnoreRule], key: &ObjectKey, live_managed: &Value, sides: [&mut Value; 2]) {
    for target in sides {
        for rule in rules.iter().filter(|r| r.selects(key)) {
            for pointer in &rule.json_pointers {
                remove_pointer(target, pointer);
            }
            for fields in managed_fields::owned_by(live_managed, &rule.managed_fields_managers) {
                managed_fields::remove_fields(target, fields);
            }
        }
    }
}

/// Shapes a desired object before it is applied over `live` so that ignored fields are left as
/// they are (Argo CD's `RespectIgnoreDifferences`): a field ignored by JSON pointer takes its live
/// value (or is dropped when live has none); a field owned by an ignored manager is dropped, so
/// Capstan neither claims nor reverts it while that manager keeps it.
pub fn respect(rules: &[IgnoreRule], key: &ObjectKey, live: &Value, desired: &mut Value) {
    for rule in rules.iter().filter(|r| r.selects(key)) {
        for pointer in &rule.json_pointers {
            match live.pointer(pointer) {
                Some(value) => {
                    if let Some(slot) = desired.pointer_mut(pointer) {
                        *slot = value.clone();
                    }
                }
                None => remove_pointer(desired, pointer),
            }
        }
        for fields in managed_fields::owned_by(live, &rule.managed_fields_managers) {
            managed_fields::remove_fields(desired, fields);
        }
    }
}

/// Removes the value at an RFC 6901 pointer, if there is one.
pub fn remove_pointer(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(list)) => {
            if let Ok(index) = last.parse::<usize>()
                && index < list.len()
            {
                list.remove(index);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> ObjectKey {
        ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "prod".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn rules_select_by_group_kind_wildcard_name_and_namespace() {
        let key = deployment();
        let rule = |group: Option<&str>, kind: &str, name: Option<&str>| IgnoreRule {
            group: group.map(Into::into),
            kind: kind.into(),
            name: name.map(Into::into),
            ..Default::default()
        };
        assert!(rule(Some("apps"), "Deployment", None).selects(&key));
        assert!(rule(None, "*", Some("web")).selects(&key));
        assert!(!rule(Some(""), "Deployment", None).selects(&key));
        assert!(!rule(Some("apps"), "StatefulSet", None).selects(&key));
        assert!(!rule(None, "*", Some("api")).selects(&key));
    }

    #[test]
    fn strip_removes_pointers_and_manager_owned_fields_from_both_sides() {
        let rules = [IgnoreRule {
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into(), "/metadata/annotations/a~1b".into()],
            managed_fields_managers: vec!["hpa".into()],
            ..Default::default()
        }];
        let live_managed = json!({"metadata": {"managedFields": [
            {"manager": "hpa", "fieldsV1": {"f:spec": {"f:paused": {}}}}]}});
        let mut live = json!({"metadata": {"annotations": {"a/b": "1", "c": "2"}},
            "spec": {"replicas": 5, "paused": true, "x": 1}});
        let mut desired = json!({"metadata": {"annotations": {"a/b": "9", "c": "2"}},
            "spec": {"replicas": 3, "paused": false, "x": 1}});
        strip(
            &rules,
            &deployment(),
            &live_managed,
            [&mut live, &mut desired],
        );
        assert_eq!(live, desired);
        assert_eq!(
            live,
            json!({"metadata": {"annotations": {"c": "2"}}, "spec": {"x": 1}})
        );
    }

    #[test]
    fn respect_keeps_live_values_of_ignored_pointers_and_drops_other_managers_fields() {
        let rules = [IgnoreRule {
            kind: "*".into(),
            json_pointers: vec!["/spec/replicas".into(), "/spec/absent".into()],
            managed_fields_managers: vec!["hpa".into()],
            ..Default::default()
        }];
        let live = json!({"metadata": {"managedFields": [
            {"manager": "hpa", "fieldsV1": {"f:spec": {"f:paused": {}}}}]},
            "spec": {"replicas": 5, "paused": true}});
        let mut desired = json!({"spec": {"replicas": 3, "paused": false, "absent": 1, "x": 1}});
        respect(&rules, &deployment(), &live, &mut desired);
        assert_eq!(desired, json!({"spec": {"replicas": 5, "x": 1}}));
    }
}
