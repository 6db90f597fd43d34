//! What is compared: an object without the fields the API server owns (managedFields,
//! resourceVersion, uid, generation, creationTimestamp, selfLink) and without status. The
//! desired side of a comparison is the server-side-apply dry-run result, so defaults and
//! admission mutations are present on both sides and never show as drift.

use serde_json::Value;

/// Metadata fields written by the API server, never by a user.
const SERVER_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// A copy of `obj` ready for comparison.
pub fn normalize(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
        if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_METADATA {
                metadata.remove(field);
            }
            for empty in ["annotations", "labels"] {
                if metadata
                    .get(empty)
                    .and_then(Value::as_object)
                    .is_some_and(|m| m.is_empty())
                {
                    metadata.remove(empty);
                }
            }
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::normalize;

    #[test]
    fn server_owned_metadata_status_and_empty_maps_are_removed() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "t", "managedFields": [], "annotations": {},
                "labels": {"app": "a"}},
            "data": {"k": "v"}, "status": {"x": 1}
        });
        assert_eq!(
            normalize(&live),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "labels": {"app": "a"}}, "data": {"k": "v"}})
        );
    }
}
