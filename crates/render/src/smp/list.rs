//! Merging a list element by element, the way kustomize does for lists whose strategy contains
//! `merge`: elements are identified by the values of their keys (or, for primitives, by their
//! text); the patch's identities come first, then the target's; each identity's pair of
//! elements is merged; then the target's elements are put back by identity, which decides the
//! final order (patch-only elements first) and where quirks come from.

use serde_json::Value;

use super::walk::{Merged, Walker, scalar_text};
use super::{SchemaNode, SmpError};

/// What the target list is merged with.
#[derive(Debug)]
pub(crate) enum ListPatch {
    /// The patch does not mention the list.
    None,
    /// The list is merged with itself (added or replaced by the patch).
    Itself,
    /// The patch's list (its `$patch` element already removed).
    List(Vec<Value>),
}

/// One key's value in an element's identity: its text (empty when missing, null or not a
/// scalar) and the value itself.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    text: String,
    value: Value,
}

impl Slot {
    pub(crate) fn new(value: &Value) -> Slot {
        Slot {
            text: scalar_text(value),
            value: value.clone(),
        }
    }

    fn empty() -> Slot {
        Slot {
            text: String::new(),
            value: Value::Null,
        }
    }
}

fn shape_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "map",
        Value::Array(_) => "list",
        Value::Null => "null",
        _ => "scalar",
    }
}

fn is_gone(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|m| m.is_empty())
}

/// The identity of an element of a keyed list.
fn keyed_identity(element: &Value, keys: &[&str]) -> Vec<Slot> {
    keys.iter()
        .map(|k| match element.get(k) {
            Some(v) if !v.is_null() && !v.is_object() && !v.is_array() => Slot::new(v),
            _ => Slot::empty(),
        })
        .collect()
}

/// The text kustomize compares for an element of a list of primitives.
fn item_text(v: &Value) -> String {
    scalar_text(v)
}

/// Identities from the patch's elements, then the target's, without repeats.
fn identities(target: &[Value], patch: Option<&[Value]>, keys: &[&str]) -> Vec<Vec<Slot>> {
    let primitive = keys == [""];
    let mut out: Vec<Vec<Slot>> = Vec::new();
    for source in [patch.unwrap_or_default(), target] {
        for element in source {
            let id = if primitive {
                vec![Slot {
                    text: item_text(element),
                    value: element.clone(),
                }]
            } else {
                keyed_identity(element, keys)
            };
            if !out.iter().any(|seen| same_texts(seen, &id)) {
                out.push(id);
            }
        }
    }
    if keys.len() > 1 {
        unify(&mut out);
    }
    out
}

fn same_texts(a: &[Slot], b: &[Slot]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.text == y.text)
}

/// Identities that share a value and differ only where one is empty become one (a port without
/// a protocol is the same as that port with one), pairwise in order, as kustomize does.
fn unify(ids: &mut [Vec<Slot>]) {
    for i in 0..ids.len() {
        for j in 0..ids.len() {
            if let Some(merged) = unified(&ids[i], &ids[j]) {
                ids[i] = merged.clone();
                ids[j] = merged;
            }
        }
    }
}

fn unified(a: &[Slot], b: &[Slot]) -> Option<Vec<Slot>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x.text == y.text {
            common = true;
            out.push(x.clone());
        } else if !x.text.is_empty() && !y.text.is_empty() {
            return None;
        } else if !x.text.is_empty() {
            out.push(x.clone());
        } else {
            out.push(y.clone());
        }
    }
    common.then_some(out)
}

/// Index of the first element whose keys have exactly these texts (kustomize's lookup).
fn find(items: &[Value], keys: &[&str], slots: &[Slot]) -> Option<usize> {
    if keys.first().is_none_or(|k| k.is_empty()) {
        let text = slots.first().map_or("", |s| s.text.as_str());
        return items.iter().position(|e| item_text(e) == text);
    }
    items.iter().position(|e| {
        e.is_object()
            && keys
                .iter()
                .zip(slots)
                .all(|(k, s)| e.get(k).is_some_and(|v| scalar_text(v) == s.text))
    })
}

/// Whether an element matches keys and values the way kustomize's element setter matches: an
/// empty value matches any value of a present field; keys beyond the values reuse the last
/// answer.
fn setter_matches(
    element: &Value,
    keys: &[&str],
    values: &[Slot],
    path: &str,
) -> Result<bool, SmpError> {
    let mut last = false;
    for (j, key) in keys.iter().enumerate() {
        if let Some(slot) = values.get(j) {
            last = field_matches(element, key, &slot.text, path)?;
        }
        if !last {
            return Ok(false);
        }
    }
    Ok(true)
}

fn field_matches(element: &Value, key: &str, text: &str, path: &str) -> Result<bool, SmpError> {
    let wrong = |expected| SmpError::ElementKind {
        path: path.to_string(),
        expected,
        found: shape_name(element),
    };
    if key.is_empty() {
        if element.is_object() || element.is_array() {
            return Err(wrong("scalar"));
        }
        return Ok(item_text(element) == text);
    }
    let Value::Object(map) = element else {
        return Err(wrong("map"));
    };
    Ok(match map.get(key) {
        None => false,
        Some(_) if text.is_empty() => true,
        Some(v) => scalar_text(v) == text,
    })
}

/// Kustomize's element setter: drops null and empty-map elements, replaces every element
/// matching `keys`/`values` with `element` (or removes it when `element` is `None`), drops
/// non-matching elements when there are no values, and appends `element` if nothing matched.
pub(crate) fn set_element(
    items: &mut Vec<Value>,
    element: Option<&Value>,
    keys: &[&str],
    values: &[Slot],
    path: &str,
) -> Result<(), SmpError> {
    let element = element.filter(|e| !e.is_null());
    let mapping = keys.first().is_some_and(|k| !k.is_empty())
        && values.first().is_some_and(|v| !v.text.is_empty());
    let mut out = Vec::with_capacity(items.len() + 1);
    let mut found = false;
    for item in items.drain(..) {
        if is_gone(&item) {
            continue;
        }
        if !item.is_object() && mapping {
            out.push(item);
            continue;
        }
        if !setter_matches(&item, keys, values, path)? {
            if !values.is_empty() {
                out.push(item);
            }
            continue;
        }
        found = true;
        if let Some(e) = element {
            out.push(e.clone());
        }
    }
    *items = out;
    if let Some(e) = element
        && !found
    {
        items.push(e.clone());
    }
    Ok(())
}

/// Puts one of the target's elements back into the merged list by its own key values.
fn put_back(
    items: &mut Vec<Value>,
    element: &Value,
    keys: &[&str],
    path: &str,
) -> Result<(), SmpError> {
    if keys.first().is_none_or(|k| k.is_empty()) {
        return set_element(items, Some(element), &[""], &[Slot::new(element)], path);
    }
    let mut values = Vec::new();
    for key in keys {
        match element {
            Value::Null => items.push(element.clone()),
            Value::Object(map) => match map.get(*key) {
                Some(v) => values.push(Slot::new(v)),
                None => items.push(element.clone()),
            },
            _ => {
                return Err(SmpError::ElementKind {
                    path: path.to_string(),
                    expected: "map",
                    found: shape_name(element),
                });
            }
        }
    }
    if keys.len() > 1 {
        set_element(items, None, keys, &values, path)?;
    }
    set_element(items, Some(element), keys, &values, path)
}

fn element_path(path: &str, keys: &[&str], slots: &[Slot]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .zip(slots)
        .filter(|(k, s)| !k.is_empty() || !s.text.is_empty())
        .map(|(k, s)| {
            if k.is_empty() {
                s.text.clone()
            } else {
                format!("{k}={}", s.text)
            }
        })
        .collect();
    format!("{path}[{}]", parts.join(","))
}

impl<'s> Walker<'s> {
    /// Merges a list whose strategy contains `merge`.
    pub(crate) fn merge_list(
        &self,
        mut target: Vec<Value>,
        patch: ListPatch,
        node: SchemaNode<'s>,
        path: &str,
    ) -> Result<Vec<Value>, SmpError> {
        let schema_keys = node.merge_keys();
        let keys: Vec<&str> = if schema_keys.is_empty() {
            vec![""]
        } else {
            schema_keys
        };
        let elements = node.elements();
        let (mut patch_items, itself) = match patch {
            ListPatch::None => (Vec::new(), false),
            ListPatch::Itself => (Vec::new(), true),
            ListPatch::List(items) => (items, false),
        };
        let ids = if itself {
            identities(&target, Some(&target), &keys)
        } else {
            identities(&target, Some(&patch_items), &keys)
        };
        if ids.is_empty() {
            return Ok(target);
        }
        let valid: Vec<usize> = {
            let used: Vec<usize> = (0..keys.len())
                .filter(|&i| ids.iter().any(|id| !id[i].text.is_empty()))
                .collect();
            if used.is_empty() {
                (0..keys.len()).collect()
            } else {
                used
            }
        };
        let valid_keys: Vec<&str> = valid.iter().map(|&i| keys[i]).collect();
        let mut merged_items: Vec<Value> = Vec::new();
        for id in &ids {
            let values: Vec<Slot> = valid.iter().map(|&i| id[i].clone()).collect();
            let (lookup_keys, lookup_values) = lookup_pairs(&valid_keys, &values);
            let elem_path = element_path(path, &valid_keys, &values);
            let t = find(&target, &lookup_keys, &lookup_values);
            let (merged, p) = if itself {
                match t {
                    Some(i) => (self.normalize(&target[i], elements, &elem_path)?, None),
                    None => (Merged::Remove, None),
                }
            } else {
                let p = find(&patch_items, &lookup_keys, &lookup_values);
                let patch_element = p.map(|i| &patch_items[i]);
                let target_element = t.map(|i| &target[i]);
                let merged =
                    self.merge_node(target_element, patch_element, elements, &elem_path)?;
                (merged, p)
            };
            let Some(value) = merged.value().filter(|v| !is_gone(v)) else {
                set_element(&mut target, None, &valid_keys, &values, path)?;
                continue;
            };
            let mut value = value.clone();
            fill_keys(&mut value, &valid_keys, &values);
            // Kustomize merges into the element's own node: keep later lookups consistent.
            let into_target = itself || matches!(merged, Merged::FromTarget(_));
            match (into_target, t, p) {
                (true, Some(i), _) => target[i] = value.clone(),
                (false, _, Some(i)) => patch_items[i] = value.clone(),
                _ => {}
            }
            set_element(&mut merged_items, Some(&value), &valid_keys, &values, path)?;
        }
        for element in &target {
            put_back(&mut merged_items, element, &valid_keys, path)?;
        }
        Ok(merged_items)
    }
}

/// The keys to look an identity up by: those with a value, or all if none has one.
fn lookup_pairs<'k>(keys: &[&'k str], values: &[Slot]) -> (Vec<&'k str>, Vec<Slot>) {
    let pairs: Vec<(&str, Slot)> = keys
        .iter()
        .zip(values)
        .filter(|(_, v)| !v.text.is_empty())
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    if pairs.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    pairs.into_iter().unzip()
}

/// Gives a merged element the key values of its identity that it lacks.
fn fill_keys(value: &mut Value, keys: &[&str], values: &[Slot]) {
    let Value::Object(map) = value else { return };
    for (key, slot) in keys.iter().zip(values) {
        if !key.is_empty() && !slot.text.is_empty() && !map.contains_key(*key) {
            map.insert((*key).to_string(), slot.value.clone());
        }
    }
}
