//! Field names matched the way Go's `encoding/json` matches them, which is how kustomize reads a
//! kustomization and its entries: exactly, else case-insensitively; `null` counts as absent.

use serde_json::{Map, Value};

/// A field no known name matches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown field \"{0}\"")]
pub struct UnknownField(pub String);

/// Renames the keys of `map` to the `known` field they match the way Go's `encoding/json`
/// matches struct fields (exactly, else case-insensitively) and drops `null`s. An unknown key is
/// an error when `strict`, dropped otherwise.
pub fn fold_fields(
    map: Map<String, Value>,
    known: &[&str],
    strict: bool,
) -> Result<Map<String, Value>, UnknownField> {
    let mut out = Map::new();
    for (key, value) in map {
        let field = known
            .iter()
            .find(|f| **f == key)
            .or_else(|| known.iter().find(|f| fold_eq(f, &key)));
        match field {
            Some(_) if value.is_null() => {}
            Some(f) => {
                out.insert((*f).to_string(), value);
            }
            None if strict => return Err(UnknownField(key)),
            None => {}
        }
    }
    Ok(out)
}

/// Case-insensitive equality as Go's `encoding/json` applies it to field names (which folds a
/// few non-ASCII letters, such as the Kelvin sign, onto ASCII ones).
pub fn fold_eq(a: &str, b: &str) -> bool {
    let fold = |c: char| -> char {
        if c.is_ascii() {
            return c.to_ascii_lowercase();
        }
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => {
                let mut lower = u.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            }
            _ => c,
        }
    };
    a.chars().map(fold).eq(b.chars().map(fold))
}
