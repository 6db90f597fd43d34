//! Field specs: "this field, in objects of these kinds", kustomize's way of telling transformers
//! where names, namespaces, labels and images live. Paths are `/`-separated map keys (`\/` for a
//! slash inside a key); lists on the way are walked element by element, with `[]` after a key
//! saying so explicitly and `[key=value]` picking the elements whose `key` is `value`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::resource::Gvk;

/// Where a transformer acts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldSpec {
    /// Group to match (any when unset).
    pub group: Option<String>,
    /// Version to match (any when unset).
    pub version: Option<String>,
    /// Kind to match (any when unset).
    pub kind: Option<String>,
    /// The field's path.
    pub path: String,
    /// Whether a missing field is created.
    pub create: bool,
}

impl FieldSpec {
    /// A spec for every kind.
    pub fn any(path: &str, create: bool) -> Self {
        Self {
            path: path.to_string(),
            create,
            ..Self::default()
        }
    }

    /// Whether it applies to objects of `gvk`.
    pub fn matches(&self, gvk: &Gvk) -> bool {
        selects(&self.group, &gvk.group)
            && selects(&self.version, &gvk.version)
            && selects(&self.kind, &gvk.kind)
    }
}

/// Whether a selector field (`group`, `version`, `kind`) admits `have`: unset or empty admits any.
pub fn selects(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w.is_empty() || w == have)
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// Every element of a list.
    All,
    /// The elements of a list whose `key` field equals `value`.
    Where(String, String),
}

/// Splits a path into segments.
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for part in split_unescaped(path) {
        if part.is_empty() {
            continue;
        }
        let (key, filters) = match part.find('[') {
            Some(i) if part.ends_with(']') => (&part[..i], Some(&part[i..])),
            _ => (part.as_str(), None),
        };
        if !key.is_empty() {
            segments.push(Segment::Key(key.to_string()));
        }
        if let Some(filters) = filters {
            for filter in filters
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split("][")
            {
                match filter.split_once('=') {
                    Some((k, v)) => segments.push(Segment::Where(k.to_string(), v.to_string())),
                    None => segments.push(Segment::All),
                }
            }
        }
    }
    segments
}

fn split_unescaped(path: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push('/')
                }
            }
            '/' => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c)
                }
            }
        }
    }
    parts
}

/// Calls `f` on every value at `path` in `obj`. With `create`, missing maps on the way are
/// created and `f` is called with `Value::Null` in place of a missing last field (it stays
/// absent unless `f` sets it). `f` returns an error to stop the walk.
pub fn walk<E>(
    obj: &mut Value,
    path: &[Segment],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let Some((first, rest)) = path.split_first() else {
        return f(obj);
    };
    match first {
        Segment::Key(key) => {
            if let Value::Array(items) = obj {
                // Lists on the way are walked implicitly.
                for item in items {
                    walk(item, path, create, f)?;
                }
                return Ok(());
            }
            let Value::Object(map) = obj else {
                return Ok(());
            };
            match map.get_mut(key.as_str()) {
                Some(Value::Null) if create && !rest.is_empty() => {
                    let child = map.entry(key.clone()).or_insert(Value::Null);
                    *child = Value::Object(Map::new());
                    walk(child, rest, create, f)
                }
                Some(child) => walk(child, rest, create, f),
                None if create => create_missing(map, key, rest, f),
                None => Ok(()),
            }
        }
        Segment::All => match obj {
            Value::Array(items) => {
                for item in items {
                    walk(item, rest, create, f)?;
                }
                Ok(())
            }
            _ => Ok(()),
        },
        Segment::Where(k, v) => match obj {
            Value::Array(items) => {
                for item in items {
                    if item.get(k).and_then(Value::as_str) == Some(v.as_str()) {
                        walk(item, rest, create, f)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

fn create_missing<E>(
    map: &mut Map<String, Value>,
    key: &str,
    rest: &[Segment],
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if rest.is_empty() {
        let mut value = Value::Null;
        f(&mut value)?;
        if !value.is_null() {
            map.insert(key.to_string(), value);
        }
        return Ok(());
    }
    if !matches!(rest[0], Segment::Key(_)) {
        return Ok(());
    }
    let mut child = Value::Object(Map::new());
    walk(&mut child, rest, true, f)?;
    if child.as_object().is_some_and(|m| !m.is_empty()) {
        map.insert(key.to_string(), child);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set_all(obj: &mut Value, path: &str, create: bool) {
        walk::<()>(obj, &parse_path(path), create, &mut |v| {
            *v = json!("X");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn walks_lists_implicitly_and_creates_only_when_asked() {
        let mut obj = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        set_all(&mut obj, "spec/containers/image", false);
        assert_eq!(
            obj,
            json!({"spec": {"containers": [{"image": "X"}, {"image": "X"}]}})
        );
        set_all(&mut obj, "metadata/labels/app", false);
        assert!(obj.get("metadata").is_none());
        set_all(&mut obj, "metadata/labels/app", true);
        assert_eq!(obj["metadata"], json!({"labels": {"app": "X"}}));
    }

    #[test]
    fn escaped_slashes_and_filters_select_fields() {
        let mut obj = json!({"a": [{"k": "x", "v": 1}, {"k": "y", "v": 2}], "b": {"c/d": 1}});
        set_all(&mut obj, "a[k=y]/v", false);
        set_all(&mut obj, "b/c\\/d", false);
        assert_eq!(
            obj,
            json!({"a": [{"k": "x", "v": 1}, {"k": "y", "v": "X"}], "b": {"c/d": "X"}})
        );
    }
}
