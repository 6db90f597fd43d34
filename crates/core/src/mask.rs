//! Secret values never leave Capstan: before a Secret is shown in a diff, every value of `data`
//! and `stringData` (and the `kubectl.kubernetes.io/last-applied-configuration` annotation, which
//! holds them in clear) is replaced by a mask. Equal values get equal masks and different
//! values different ones, so a diff still says *which* keys changed, never to what.

use serde_json::Value;

use crate::object::ObjectKey;

/// The annotation in which client-side `kubectl apply` keeps the whole object, secrets included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Mask of a value that is the same on both sides.
pub const SAME: &str = "++++++++ (hidden)";
/// Mask of the live value of a changed key.
pub const OLD: &str = "-------- (hidden, changed)";
/// Mask of the desired value of a changed key.
pub const NEW: &str = "++++++++ (hidden, changed)";

/// Whether `key` names a Secret.
pub fn is_secret(key: &ObjectKey) -> bool {
    key.group.is_empty() && key.kind == "Secret"
}

/// Masks the secret values of `live` and `desired` (either may be absent), comparing them
/// pairwise first.
pub fn mask_pair(live: Option<&mut Value>, desired: Option<&mut Value>) {
    let (mut live, mut desired) = (live, desired);
    for field in ["data", "stringData"] {
        let live_values = live.as_deref().and_then(|o| o.get(field)).cloned();
        let desired_values = desired.as_deref().and_then(|o| o.get(field)).cloned();
        if let Some(obj) = live.as_deref_mut() {
            mask_map(obj, field, desired_values.as_ref(), OLD);
        }
        if let Some(obj) = desired.as_deref_mut() {
            mask_map(obj, field, live_values.as_ref(), NEW);
        }
    }
    for obj in [live, desired].into_iter().flatten() {
        if let Some(value) = obj
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
            .and_then(|a| a.get_mut(LAST_APPLIED))
        {
            *value = Value::String(SAME.to_owned());
        }
    }
}

/// Replaces every value of `obj[field]`: by [`SAME`] when `other` has the same value for the
/// key, by `changed` otherwise.
fn mask_map(obj: &mut Value, field: &str, other: Option<&Value>, changed: &str) {
    let Some(map) = obj.get_mut(field).and_then(Value::as_object_mut) else {
        if let Some(value) = obj.get_mut(field) {
            *value = Value::String(changed.to_owned());
        }
        return;
    };
    for (key, value) in map.iter_mut() {
        let same = other.and_then(|o| o.get(key)) == Some(&*value);
        *value = Value::String(if same { SAME } else { changed }.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_values_get_equal_masks_and_changed_ones_show_only_that_they_changed() {
        let mut live = json!({"data": {"same": "czE=", "changed": "b2xk", "gone": "eA=="},
            "metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"same\":\"czE=\"}}"}}});
        let mut desired = json!({"data": {"same": "czE=", "changed": "bmV3", "added": "eQ=="},
            "stringData": {"plain": "secret"}});
        mask_pair(Some(&mut live), Some(&mut desired));
        assert_eq!(
            live["data"],
            json!({"same": SAME, "changed": OLD, "gone": OLD})
        );
        assert_eq!(
            desired["data"],
            json!({"same": SAME, "changed": NEW, "added": NEW})
        );
        assert_eq!(desired["stringData"], json!({"plain": NEW}));
        assert_eq!(live["metadata"]["annotations"][LAST_APPLIED], json!(SAME));
        let text = format!("{live}{desired}");
        for secret in ["czE=", "b2xk", "bmV3", "eA==", "eQ==", "secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn a_malformed_data_field_is_masked_whole() {
        let mut desired = json!({"data": "not-a-map"});
        mask_pair(None, Some(&mut desired));
        assert_eq!(desired["data"], json!(NEW));
    }
}
