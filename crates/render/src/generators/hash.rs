//! The content hash kustomize appends to generated names (`name-<hash>`).
//!
//! What is hashed is a small JSON document, encoded as Go's `encoding/json` encodes it (keys
//! sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u....`, numbers as Go prints a
//! `float64`):
//! - ConfigMap: `{"binaryData": ..., "data": ..., "kind": "ConfigMap", "name": ...}`, with
//!   `binaryData` only when the object has a `binaryData` mapping (or list);
//! - Secret: `{"data": ..., "kind": "Secret", "name": ..., "stringData": ..., "type": ...}`,
//!   with `stringData` only when the object has a `stringData` mapping (or list).
//!
//! `data`, `binaryData`, `stringData` and `type` are the object's fields: a mapping as a JSON
//! object, a scalar as its text, absent or `null` as `""`. `name` is, faithfully to kustomize,
//! the top-level field literally called `metadata/name` (kustomize looks the name up with a path
//! that is never split at the `/`), so in practice always `""`: **the name is not hashed**, nor
//! are labels, annotations, the namespace or `immutable`.
//!
//! The hash is the SHA-256 of that text in hex; its first 10 characters, with `0`, `1`, `3`, `a`
//! and `e` replaced by `g`, `h`, `k`, `m` and `t` (so no vowels or look-alike digits), are the
//! suffix.

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use super::GeneratorError;

/// The 10-character suffix kustomize appends (after a `-`) to the name of a generated ConfigMap
/// or Secret with this content. Other kinds are refused.
pub fn name_hash(object: &Value) -> Result<String, GeneratorError> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut doc = Map::new();
    doc.insert("kind".into(), Value::String(kind.to_string()));
    doc.insert("name".into(), field(object, "metadata/name"));
    doc.insert("data".into(), field(object, "data"));
    match kind {
        "ConfigMap" => include_if_collection(&mut doc, object, "binaryData"),
        "Secret" => {
            doc.insert("type".into(), field(object, "type"));
            include_if_collection(&mut doc, object, "stringData");
        }
        _ => {
            return Err(GeneratorError::HashKind {
                kind: kind.to_string(),
            });
        }
    }
    let mut text = String::new();
    write_go_json(&mut text, &Value::Object(doc));
    Ok(encode(&Sha256::digest(text.as_bytes())))
}

/// A top-level field as kustomize's hasher sees it.
fn field(object: &Value, key: &str) -> Value {
    match object.get(key) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::Object(m)) => Value::Object(m.clone()),
        // A list where a mapping belongs fails to decode as one and is hashed as `null`.
        Some(Value::Array(_)) => Value::Null,
        Some(scalar) => Value::String(scalar_text(scalar)),
    }
}

fn include_if_collection(doc: &mut Map<String, Value>, object: &Value, key: &str) {
    if matches!(object.get(key), Some(Value::Object(_) | Value::Array(_))) {
        doc.insert(key.to_string(), field(object, key));
    }
}

/// The text of a scalar as it would appear in YAML.
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn encode(digest: &[u8]) -> String {
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// `v` as Go's `json.Marshal` writes an `interface{}` decoded from it.
fn write_go_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => write_go_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map is sorted by key bytes, as Go sorts map keys.
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(out, k);
                out.push(':');
                write_go_json(out, item);
            }
            out.push('}');
        }
    }
}

/// A number as Go writes a `float64` (which is what a decoded JSON number becomes).
fn go_number(n: &Number) -> String {
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        match e.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => e,
        }
    } else {
        format!("{f}")
    }
}

fn write_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn go(v: Value) -> String {
        let mut s = String::new();
        write_go_json(&mut s, &v);
        s
    }

    #[test]
    fn json_text_is_what_go_would_write() {
        assert_eq!(
            go(json!({"b": "<a&b>\u{2028}", "a": "\"\\\n\r\t\u{8}\u{c}\u{1}é"})),
            r#"{"a":"\"\\\n\r\t\b\f\u0001é","b":"\u003ca\u0026b\u003e\u2028"}"#
        );
        assert_eq!(go(json!("\u{7f}")), "\"\u{7f}\"", "DEL is not escaped");
        assert_eq!(
            go(json!([
                1, -2, 1.5, 1.0, 1e21, 1.5e-7, 0.000001, 1e20, null, true
            ])),
            "[1,-2,1.5,1,1e+21,1.5e-7,0.000001,100000000000000000000,null,true]"
        );
    }

    #[test]
    fn config_map_hash_matches_kustomize_and_ignores_name_labels_and_namespace() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "bob"}, "data": {"fruit": "apple"}});
        let mut renamed = cm.clone();
        renamed["metadata"] = json!({"name": "x-bob", "namespace": "n", "labels": {"a": "b"}});
        assert_eq!(name_hash(&cm).unwrap(), name_hash(&renamed).unwrap());
        let mut changed = cm.clone();
        changed["data"]["fruit"] = json!("pear");
        assert_ne!(name_hash(&cm).unwrap(), name_hash(&changed).unwrap());
    }

    #[test]
    fn the_suffix_uses_no_vowels_and_no_look_alike_digits() {
        assert_eq!(encode(&[0x01, 0x3a, 0xe2, 0x45, 0x67, 0x89]), "ghkmt24567");
    }

    #[test]
    fn kinds_other_than_config_map_and_secret_are_refused() {
        let err = name_hash(&json!({"kind": "Deployment"})).unwrap_err();
        assert!(err.to_string().contains("Deployment"), "{err}");
    }
}
