//! `replacements`: copy a field of one object (the source) into fields of others (the targets),
//! whole or as one part of a delimited string. Field paths are kustomize's: dot-separated keys,
//! list indexes, `*` for every list element and `[key=value]` to pick list elements.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::kustomization::Target;
use crate::loader::Loader;
use crate::resmap::ResMap;
use crate::transform::selector::Selector;
use crate::yaml;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Replacement {
    path: Option<String>,
    source: Option<Source>,
    targets: Vec<TargetSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Source {
    #[serde(flatten)]
    select: Target,
    field_path: Option<String>,
    options: Options,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TargetSpec {
    select: Option<Target>,
    reject: Vec<Target>,
    field_paths: Vec<String>,
    options: Options,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Options {
    delimiter: String,
    index: i64,
    create: bool,
}

/// Runs the `replacements` entries (inline or `path:` files holding a list of them).
pub fn apply(
    loader: &Loader<'_>,
    file: &str,
    entries: &[Value],
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    for (i, raw) in entries.iter().enumerate() {
        let field = format!("replacements[{i}]");
        let err = |e: String| RenderError::field(file, field.clone(), e);
        let entry: Replacement =
            serde_json::from_value(raw.clone()).map_err(|e| err(e.to_string()))?;
        let list = match &entry.path {
            Some(path) => {
                let text = loader.read_text(path).map_err(|e| err(e.to_string()))?;
                let mut list = Vec::new();
                for doc in yaml::parse_documents(&text, path)? {
                    let items = match doc {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for item in items {
                        list.push(
                            serde_json::from_value(item)
                                .map_err(|e| err(format!("{path}: {e}")))?,
                        );
                    }
                }
                list
            }
            None => vec![entry],
        };
        for replacement in &list {
            replace(&mut acc.resources, replacement).map_err(err)?;
        }
    }
    Ok(())
}

fn replace(res: &mut ResMap, r: &Replacement) -> Result<(), String> {
    let source = r.source.as_ref().ok_or("a replacement needs a source")?;
    let selector = Selector::new(&source.select)?;
    let found: Vec<usize> = (0..res.items.len())
        .filter(|&i| selector.selects(&res.items[i]))
        .collect();
    let index = match found.as_slice() {
        [one] => *one,
        [] => return Err(format!("nothing selected by {}", describe(&source.select))),
        _ => {
            return Err(format!(
                "multiple matches for selector {}",
                describe(&source.select)
            ));
        }
    };
    let path = source.field_path.as_deref().unwrap_or("metadata.name");
    let mut value = get(&res.items[index].obj, &split(path)).ok_or_else(|| {
        format!(
            "fieldPath `{path}` is missing for replacement source {}",
            res.items[index].id()
        )
    })?;
    if !source.options.delimiter.is_empty() {
        let text = value
            .as_str()
            .ok_or("delimiter option can only be used with scalar nodes")?;
        let parts: Vec<&str> = text.split(source.options.delimiter.as_str()).collect();
        let i = usize::try_from(source.options.index)
            .ok()
            .filter(|&i| i < parts.len());
        let i = i.ok_or_else(|| {
            format!(
                "options.index {} is out of bounds for value {text}",
                source.options.index
            )
        })?;
        value = Value::String(parts[i].to_string());
    }
    for target in &r.targets {
        let select = target
            .select
            .as_ref()
            .ok_or("a replacement target needs a select")?;
        let selector = Selector::new(select)?;
        let rejects = target
            .reject
            .iter()
            .map(Selector::new)
            .collect::<Result<Vec<_>, _>>()?;
        for res in &mut res.items {
            if !selector.selects(res) || rejects.iter().any(|r| r.selects(res)) {
                continue;
            }
            for path in &target.field_paths {
                set(&mut res.obj, &split(path), &value, &target.options)
                    .map_err(|e| format!("{}: fieldPath {path}: {e}", res.id()))?;
            }
        }
    }
    Ok(())
}

fn describe(t: &Target) -> String {
    serde_json::to_string(&serde_json::json!({
        "kind": t.kind, "name": t.name, "namespace": t.namespace, "group": t.group, "version": t.version
    }))
    .unwrap_or_default()
}

/// Splits a field path on dots outside brackets.
pub fn split(path: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth -= 1;
                cur.push(c)
            }
            '.' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

fn filter(part: &str) -> Option<(&str, &str)> {
    part.strip_prefix('[')?.strip_suffix(']')?.split_once('=')
}

fn get(obj: &Value, path: &[String]) -> Option<Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(obj.clone());
    };
    match obj {
        Value::Object(map) => get(map.get(first)?, rest),
        Value::Array(items) => {
            if let Some((k, v)) = filter(first) {
                let item = items
                    .iter()
                    .find(|i| i.get(k).and_then(Value::as_str) == Some(v))?;
                get(item, rest)
            } else if first == "*" {
                items.iter().find_map(|i| get(i, rest))
            } else {
                get(items.get(first.parse::<usize>().ok()?)?, rest)
            }
        }
        _ => None,
    }
}

fn set(obj: &mut Value, path: &[String], value: &Value, opts: &Options) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *obj = merge_part(obj, value, opts)?;
        return Ok(());
    };
    match obj {
        Value::Object(map) => match map.get_mut(first.as_str()) {
            Some(child) => set(child, rest, value, opts),
            None if opts.create => {
                let mut child = if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                set(&mut child, rest, value, opts)?;
                map.insert(first.clone(), child);
                Ok(())
            }
            None => Ok(()),
        },
        Value::Array(items) => {
            if let Some((k, v)) = filter(first) {
                for item in items
                    .iter_mut()
                    .filter(|i| i.get(k).and_then(Value::as_str) == Some(v))
                {
                    set(item, rest, value, opts)?;
                }
                Ok(())
            } else if first == "*" {
                items.iter_mut().try_for_each(|i| set(i, rest, value, opts))
            } else {
                match first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(item) => set(item, rest, value, opts),
                    None => Ok(()),
                }
            }
        }
        Value::Null if opts.create => {
            *obj = Value::Object(Map::new());
            set(obj, path, value, opts)
        }
        _ => Ok(()),
    }
}

/// The new value of a target field: the source value, or with a delimiter the existing string
/// with one part replaced (a negative index prepends, one past the end appends).
fn merge_part(current: &Value, value: &Value, opts: &Options) -> Result<Value, String> {
    if opts.delimiter.is_empty() {
        return Ok(value.clone());
    }
    let new = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err("delimiter option can only be used with scalar nodes".into()),
    };
    let existing = current.as_str().unwrap_or("");
    // Like Go's strings.Split, an empty value is one empty part.
    let mut parts: Vec<String> = existing
        .split(opts.delimiter.as_str())
        .map(String::from)
        .collect();
    if opts.index < 0 {
        parts.insert(0, new);
    } else if opts.index as usize >= parts.len() {
        parts.push(new);
    } else {
        parts[opts.index as usize] = new;
    }
    Ok(Value::String(parts.join(&opts.delimiter)))
}
