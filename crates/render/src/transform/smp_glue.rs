//! The strategic-merge step patches use. Until the schema-aware merge lands this is a plain
//! recursive merge: maps merge, `null` deletes, lists are replaced, `$patch: delete` on the
//! object deletes it.

use serde_json::Value;

/// Merges `patch` into `target`; `None` when the patch deletes the object.
pub fn merge(target: &Value, patch: &Value) -> Result<Option<Value>, String> {
    if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
        return Ok(None);
    }
    let mut out = target.clone();
    merge_into(&mut out, patch);
    Ok(Some(out))
}

fn merge_into(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                } else if let Some(existing) = t.get_mut(k) {
                    merge_into(existing, v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
