//! Fingerprints of what was last applied: of the desired body sent, and of the live object as
//! the API server answered it, the latter normalized as a diff sees it (`status` and the
//! metadata the server keeps — resourceVersion, managedFields, generation, timestamps — left out). Kept with the inventory, they
//! let a compare or a sync skip an object — no dry-run, no apply — when neither git nor anyone
//! in the cluster changed it since. A field dropped from git changes the desired fingerprint, so
//! the object is applied and the field released; an edit by another writer changes the live one.
//!
//! Secrets are never fingerprinted: a hash of a secret value stored in an inventory (a
//! ConfigMap, an Application's status) would let anyone who can read it test guesses offline.

use capstan_api::AppliedFingerprints;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::normalize::normalize;
use crate::object::ObjectKey;

/// The fingerprints of `key` after applying `body` and reading back `live`; `None` for objects
/// that are never fingerprinted (Secrets).
pub fn applied(key: &ObjectKey, body: &Value, live: &Value) -> Option<AppliedFingerprints> {
    Some(AppliedFingerprints {
        live: self::live(key, live)?,
        desired: hash(body),
    })
}

/// Whether `body` and `live` are exactly what was applied and read back last time.
pub fn unchanged(
    key: &ObjectKey,
    last: Option<&AppliedFingerprints>,
    body: &Value,
    live: &Value,
) -> bool {
    last.is_some() && unchanged_seen(last, body, self::live(key, live).as_deref())
}

/// The live fingerprint of `live` as [`applied`] records it, for a cache to keep instead of
/// the object; `None` for objects that are never fingerprinted (Secrets).
pub fn live(key: &ObjectKey, live: &Value) -> Option<String> {
    fingerprintable(key).then(|| hash(&normalize(live)))
}

/// Whether `body` and a live object whose fingerprint is `live` (from [`live`]) are exactly
/// what was applied and read back last time.
pub fn unchanged_seen(
    last: Option<&AppliedFingerprints>,
    body: &Value,
    live: Option<&str>,
) -> bool {
    match (last, live) {
        (Some(last), Some(live)) => last.live == live && last.desired == hash(body),
        _ => false,
    }
}

fn fingerprintable(key: &ObjectKey) -> bool {
    !(key.group.is_empty() && key.kind == "Secret")
}

/// SHA-256 of the compact JSON text, hex. `serde_json` keeps object keys sorted, so equal
/// objects have equal text.
fn hash(value: &Value) -> String {
    let text = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(kind: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: kind.into(),
            namespace: "prod".into(),
            name: "web".into(),
        }
    }

    fn live(resource_version: &str, status: &str, data: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "resourceVersion": resource_version, "generation": 3,
                "managedFields": [{"manager": resource_version}], "uid": "u-1"},
            "data": {"a": data},
            "status": {"seen": status},
        })
    }

    #[test]
    fn server_maintained_metadata_and_status_do_not_change_the_live_fingerprint() {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}});
        let last = applied(&key("ConfigMap"), &body, &live("10", "x", "1"));
        assert!(unchanged(
            &key("ConfigMap"),
            last.as_ref(),
            &body,
            &live("11", "y", "1")
        ));
    }

    #[test]
    fn a_change_in_git_or_by_another_writer_changes_a_fingerprint() {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"}});
        let last = applied(&key("ConfigMap"), &body, &live("10", "x", "1"));
        let dropped = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}});
        let k = key("ConfigMap");
        assert!(
            !unchanged(&k, last.as_ref(), &dropped, &live("10", "x", "1")),
            "a field dropped from git"
        );
        assert!(
            !unchanged(&k, last.as_ref(), &body, &live("12", "x", "edited")),
            "an edit by another writer"
        );
        assert!(
            !unchanged(&k, None, &body, &live("10", "x", "1")),
            "nothing known"
        );
    }

    #[test]
    fn a_kept_live_fingerprint_decides_as_the_whole_object_would() {
        let k = key("ConfigMap");
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}});
        let last = applied(&k, &body, &live("10", "x", "1"));
        for (now, body) in [
            (live("11", "y", "1"), &body),
            (live("12", "x", "edited"), &body),
            (
                live("10", "x", "1"),
                &json!({"kind": "ConfigMap", "data": {"a": "2"}}),
            ),
        ] {
            let seen = super::live(&k, &now);
            assert_eq!(
                unchanged_seen(last.as_ref(), body, seen.as_deref()),
                unchanged(&k, last.as_ref(), body, &now),
                "{now} / {body}"
            );
        }
        assert!(!unchanged_seen(
            None,
            &body,
            super::live(&k, &body).as_deref()
        ));
        let secret = key("Secret");
        assert_eq!(super::live(&secret, &body), None);
    }

    #[test]
    fn secrets_are_never_fingerprinted() {
        let body = json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "MQ=="}});
        assert_eq!(applied(&key("Secret"), &body, &body), None);
        let in_a_group = ObjectKey {
            group: "example.com".into(),
            ..key("Secret")
        };
        assert!(applied(&in_a_group, &body, &body).is_some());
    }
}
