//! The recursive part of the merge: one node of the target against the same node of the patch
//! (either may be absent), dispatching on map, list or scalar, and `$patch` directives.
//!
//! A node the patch adds wholesale is still "merged with itself", as kustomize does: directives
//! inside it are applied, `null`s dropped and its merging lists rebuilt.

use serde_json::{Map, Value};

use super::list::{ListPatch, Slot};
use super::{Schema, SchemaNode, SmpError};

/// What became of one field or element.
#[derive(Debug)]
pub(crate) enum Merged {
    /// It goes away.
    Remove,
    /// An explicit `null` of the target that the patch leaves alone: kept.
    KeptNull,
    /// Built on the target's node (kustomize updates that node in place).
    FromTarget(Value),
    /// Taken from the patch.
    FromPatch(Value),
}

impl Merged {
    /// The value, unless the node goes away.
    pub(crate) fn value(&self) -> Option<&Value> {
        match self {
            Merged::FromTarget(v) | Merged::FromPatch(v) => Some(v),
            Merged::Remove | Merged::KeptNull => None,
        }
    }
}

/// A `$patch` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directive {
    Merge,
    Replace,
    Delete,
}

/// The shape of a non-null value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Map,
    List,
    Scalar,
}

impl Shape {
    fn of(v: &Value) -> Option<Shape> {
        match v {
            Value::Null => None,
            Value::Object(_) => Some(Shape::Map),
            Value::Array(_) => Some(Shape::List),
            _ => Some(Shape::Scalar),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Map => "map",
            Shape::List => "list",
            Shape::Scalar => "scalar",
        }
    }
}

/// Merges with one schema.
pub(crate) struct Walker<'s> {
    schema: &'s Schema,
}

/// `path.key`, or `key` at the root.
pub(crate) fn child_path(path: &str, key: &str) -> String {
    if path == "." {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'s> Walker<'s> {
    pub(crate) fn new(schema: &'s Schema) -> Self {
        Walker { schema }
    }

    /// Merges a whole object.
    pub(crate) fn merge_root(
        &self,
        target: &Value,
        patch: &Value,
    ) -> Result<Option<Value>, SmpError> {
        Ok(
            match self.merge_node(Some(target), Some(patch), None, ".")? {
                Merged::FromTarget(v) | Merged::FromPatch(v) => Some(v),
                Merged::KeptNull => Some(Value::Null),
                Merged::Remove => None,
            },
        )
    }

    /// The schema of a node: the one handed down, else that of the kind the target (then the
    /// patch) names with `apiVersion` and `kind`.
    fn schema_for(
        &self,
        given: Option<SchemaNode<'s>>,
        sources: [Option<&Value>; 2],
    ) -> Option<SchemaNode<'s>> {
        given.or_else(|| {
            sources.into_iter().flatten().find_map(|v| {
                let api_version = v.get("apiVersion")?.as_str().filter(|s| !s.is_empty())?;
                let kind = v.get("kind")?.as_str().filter(|s| !s.is_empty())?;
                self.schema.resource(api_version, kind)
            })
        })
    }

    /// Merges the patch's node into the target's. `None` means the side lacks the field;
    /// `Some(Value::Null)` is an explicit null.
    pub(crate) fn merge_node(
        &self,
        target: Option<&Value>,
        patch: Option<&Value>,
        given: Option<SchemaNode<'s>>,
        path: &str,
    ) -> Result<Merged, SmpError> {
        let node = self.schema_for(given, [target, patch]);
        let shapes = [target.and_then(Shape::of), patch.and_then(Shape::of)];
        let shape = shapes.into_iter().flatten().next();
        if let Some(expected) = shape
            && let Some(found) = shapes.into_iter().flatten().find(|s| *s != expected)
        {
            return Err(SmpError::KindMismatch {
                path: path.to_string(),
                expected: expected.name(),
                found: found.name(),
            });
        }
        match shape {
            None | Some(Shape::Map) => self.merge_map(target, patch, node, path),
            Some(Shape::List) => self.merge_list_node(target, patch, node, path),
            Some(Shape::Scalar) => Ok(replaced(target, patch)),
        }
    }

    fn merge_map(
        &self,
        target: Option<&Value>,
        patch: Option<&Value>,
        node: Option<SchemaNode<'s>>,
        path: &str,
    ) -> Result<Merged, SmpError> {
        let target_map = match target {
            Some(Value::Object(t)) => t,
            _ => {
                return match patch {
                    None if target.is_some() => Ok(Merged::KeptNull),
                    Some(p @ Value::Object(_)) => self.normalize_map(p, node, path, false),
                    _ => Ok(Merged::Remove),
                };
            }
        };
        let Some(patch) = patch else {
            return self.merge_fields(target_map, &Map::new(), node, path);
        };
        let Value::Object(patch_map) = patch else {
            // Only null reaches here: shapes were checked.
            return Ok(Merged::Remove);
        };
        let mut patch_map = patch_map.clone();
        match map_directive(&mut patch_map, path, true)? {
            Directive::Delete => Ok(Merged::Remove),
            Directive::Replace => self.normalize_map(&Value::Object(patch_map), node, path, true),
            Directive::Merge => self.merge_fields(target_map, &patch_map, node, path),
        }
    }

    /// Merges the fields of two maps, in name order.
    fn merge_fields(
        &self,
        target: &Map<String, Value>,
        patch: &Map<String, Value>,
        node: Option<SchemaNode<'s>>,
        path: &str,
    ) -> Result<Merged, SmpError> {
        let mut out = target.clone();
        let mut keys: Vec<&String> = target.keys().chain(patch.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let field = node.and_then(|n| n.field(key));
            let merged = self.merge_node(
                target.get(key),
                patch.get(key),
                field,
                &child_path(path, key),
            )?;
            set_field(&mut out, key, merged);
        }
        Ok(Merged::FromTarget(Value::Object(out)))
    }

    /// A map the patch brings in (or replaces with), merged with itself. With `strict`, an
    /// unknown `$patch` is an error; otherwise (a map added where the target had none, as
    /// kustomize does) it is left in place.
    fn normalize_map(
        &self,
        value: &Value,
        node: Option<SchemaNode<'s>>,
        path: &str,
        strict: bool,
    ) -> Result<Merged, SmpError> {
        let Value::Object(map) = value else {
            return self.normalize(value, node, path);
        };
        let mut map = map.clone();
        if map_directive(&mut map, path, strict)? == Directive::Delete {
            return Ok(Merged::Remove);
        }
        let mut out = Map::new();
        for (key, child) in &map {
            let field = node.and_then(|n| n.field(key));
            let merged = self.normalize(child, field, &child_path(path, key))?;
            set_field(&mut out, key, merged);
        }
        Ok(Merged::FromPatch(Value::Object(out)))
    }

    /// A node merged with itself.
    pub(crate) fn normalize(
        &self,
        value: &Value,
        given: Option<SchemaNode<'s>>,
        path: &str,
    ) -> Result<Merged, SmpError> {
        let node = self.schema_for(given, [Some(value), None]);
        match value {
            Value::Null => Ok(Merged::Remove),
            Value::Object(_) => self.normalize_map(value, node, path, true),
            Value::Array(items) => match node.filter(SchemaNode::merges_elements) {
                Some(list_node) => {
                    let mut items = items.clone();
                    if list_directive(&mut items, path)? == Directive::Delete {
                        return Ok(Merged::Remove);
                    }
                    let merged = self.merge_list(items, ListPatch::Itself, list_node, path)?;
                    Ok(Merged::FromPatch(Value::Array(merged)))
                }
                None => Ok(Merged::FromPatch(value.clone())),
            },
            _ => Ok(Merged::FromPatch(value.clone())),
        }
    }

    fn merge_list_node(
        &self,
        target: Option<&Value>,
        patch: Option<&Value>,
        node: Option<SchemaNode<'s>>,
        path: &str,
    ) -> Result<Merged, SmpError> {
        let Some(list_node) = node.filter(SchemaNode::merges_elements) else {
            return Ok(replaced(target, patch));
        };
        let target_items = match target {
            Some(Value::Array(items)) => items,
            _ => {
                // Added where the target had none: merged with itself, directives untouched.
                let Some(Value::Array(items)) = patch else {
                    return Ok(Merged::Remove);
                };
                let merged = self.merge_list(items.clone(), ListPatch::Itself, list_node, path)?;
                return Ok(Merged::FromPatch(Value::Array(merged)));
            }
        };
        let patch_items = match patch {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(_) => return Ok(Merged::Remove),
        };
        let Some(patch_items) = patch_items else {
            let merged = self.merge_list(target_items.clone(), ListPatch::None, list_node, path)?;
            return Ok(Merged::FromTarget(Value::Array(merged)));
        };
        let mut patch_items = patch_items.clone();
        match list_directive(&mut patch_items, path)? {
            Directive::Delete => Ok(Merged::Remove),
            Directive::Replace => {
                let merged = self.merge_list(patch_items, ListPatch::Itself, list_node, path)?;
                Ok(Merged::FromPatch(Value::Array(merged)))
            }
            Directive::Merge => {
                let other = ListPatch::List(patch_items);
                let merged = self.merge_list(target_items.clone(), other, list_node, path)?;
                Ok(Merged::FromTarget(Value::Array(merged)))
            }
        }
    }
}

/// Stores a merged field into a map.
fn set_field(map: &mut Map<String, Value>, key: &str, merged: Merged) {
    match merged {
        Merged::Remove => {
            map.remove(key);
        }
        Merged::KeptNull => {
            map.insert(key.to_string(), Value::Null);
        }
        Merged::FromTarget(v) | Merged::FromPatch(v) => {
            map.insert(key.to_string(), v);
        }
    }
}

/// The text kustomize compares for a scalar (a map or list has none: empty).
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn parse_directive(value: &Value, path: &str) -> Result<Directive, SmpError> {
    match value.as_str() {
        Some("delete") => Ok(Directive::Delete),
        Some("replace") => Ok(Directive::Replace),
        Some("merge") => Ok(Directive::Merge),
        _ => Err(SmpError::UnknownDirective {
            path: path.to_string(),
            value: scalar_text(value),
        }),
    }
}

/// Reads and removes a map's `$patch`. Without `strict`, an unknown value is left in place and
/// read as `merge`.
fn map_directive(
    map: &mut Map<String, Value>,
    path: &str,
    strict: bool,
) -> Result<Directive, SmpError> {
    let Some(value) = map.get("$patch") else {
        return Ok(Directive::Merge);
    };
    match parse_directive(value, path) {
        Ok(directive) => {
            map.remove("$patch");
            Ok(directive)
        }
        Err(_) if !strict => Ok(Directive::Merge),
        Err(e) => Err(e),
    }
}

/// Reads a list's directive: the first map element with a `$patch` field, if that is its only
/// field; such elements are then removed (with kustomize's side effect of dropping null and
/// empty-map elements).
fn list_directive(items: &mut Vec<Value>, path: &str) -> Result<Directive, SmpError> {
    let Some(element) = items
        .iter()
        .find_map(|e| e.as_object().filter(|m| m.contains_key("$patch")))
    else {
        return Ok(Directive::Merge);
    };
    if element.len() > 1 {
        return Ok(Directive::Merge);
    }
    let value = element.get("$patch").cloned().unwrap_or(Value::Null);
    let directive = parse_directive(&value, path)?;
    let slot = Slot::new(&value);
    super::list::set_element(items, None, &["$patch"], &[slot], path)?;
    Ok(directive)
}

/// Replace semantics: the patch's value wins, `null` removes, absent keeps the target's.
fn replaced(target: Option<&Value>, patch: Option<&Value>) -> Merged {
    match (target, patch) {
        (_, Some(Value::Null)) => Merged::Remove,
        (_, Some(p)) => Merged::FromPatch(p.clone()),
        (Some(t), None) => Merged::FromTarget(t.clone()),
        (None, None) => Merged::Remove,
    }
}
