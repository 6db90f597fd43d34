//! Compact in-memory copies of JSON for long-lived caches: the value's JSON text, compressed
//! with LZ4. Objects rendered from manifests or read from the API server repeat their keys and
//! label prefixes, so the copy is a fraction of the parsed value's memory; reading it back
//! decompresses and parses (microseconds for an object) and gives exactly the value kept.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value kept as compressed JSON text.
#[derive(Clone, PartialEq, Eq)]
pub struct CompactJson(Box<[u8]>);

impl std::fmt::Debug for CompactJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompactJson({} bytes)", self.0.len())
    }
}

impl CompactJson {
    /// The compact copy of `value`; `None` when it cannot be written as JSON (a map with keys
    /// that are not strings).
    pub fn of(value: &impl Serialize) -> Option<CompactJson> {
        let text = serde_json::to_vec(value).ok()?;
        Some(CompactJson(
            lz4_flex::compress_prepend_size(&text).into_boxed_slice(),
        ))
    }

    /// The value kept; `None` only if the copy was not made by [`CompactJson::of`] for this type.
    pub fn read<T: DeserializeOwned>(&self) -> Option<T> {
        let text = lz4_flex::decompress_size_prepended(&self.0).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// How many bytes the copy takes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the copy is empty (it never is: even `null` takes bytes).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::CompactJson;

    #[test]
    fn a_value_reads_back_exactly() {
        let value = json!({
            "text": "grüße ✓ \"quoted\"\n", "int": -3, "big": 18446744073709551615_u64,
            "float": 0.1, "whole": 2.0, "none": null, "map": {}, "list": [[], {}, ""],
        });
        let kept = CompactJson::of(&value).expect("JSON");
        assert_eq!(kept.read::<Value>(), Some(value));
    }

    #[test]
    fn repetitive_objects_take_a_fraction_of_their_text() {
        let objects: Vec<Value> = (0..16)
            .map(|n| {
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("app-001-config-{n:02}"), "labels": {
                        "app.kubernetes.io/name": "app-001-config",
                        "app.kubernetes.io/instance": "app-001"}},
                    "data": {"LOG_LEVEL": "info", "LISTEN_ADDR": "0.0.0.0:8080"}})
            })
            .collect();
        let text = serde_json::to_vec(&objects).expect("JSON").len();
        let kept = CompactJson::of(&objects).expect("JSON");
        assert!(kept.len() * 3 < text, "{} of {text} bytes", kept.len());
        assert_eq!(kept.read::<Vec<Value>>(), Some(objects));
    }
}
