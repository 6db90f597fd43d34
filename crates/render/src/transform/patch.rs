//! Patches: `patchesStrategicMerge`, `patches` (strategic merge or JSON 6902, inline or from a
//! file, with or without a target selector) and `patchesJson6902`. A patch that renames an object
//! (allowed with `options.allowNameChange` / `allowKindChange`, or by a JSON patch) keeps the old
//! identity in the object's history, so later references and patches still find it.

use serde_json::Value;

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::kustomization::Patch;
use crate::loader::Loader;
use crate::resmap::ResMap;
use crate::resource::{ResId, Resource};
use crate::smp::{self, Schema};
use crate::transform::selector::Selector;
use crate::yaml;

/// A parsed patch.
#[derive(Debug, Clone)]
pub enum PatchBody {
    /// Strategic-merge patch documents.
    Strategic(Vec<Value>),
    /// JSON 6902 operations.
    Json(json_patch::Patch),
}

/// Reads a patch given inline or as a file path. A YAML or JSON list is a JSON 6902 patch.
pub fn load(
    loader: &Loader<'_>,
    path: Option<&str>,
    inline: Option<&str>,
    what: &str,
) -> Result<PatchBody, String> {
    let (text, name) = match (path, inline) {
        (Some(p), None) => (
            loader.read_text(p).map_err(|e| e.to_string())?,
            p.to_string(),
        ),
        (None, Some(text)) => (text.to_string(), format!("{what} (inline)")),
        (Some(_), Some(_)) => return Err("patch and path cannot both be set".into()),
        (None, None) => return Err("must specify either a patch or a path".into()),
    };
    parse(&text, &name)
}

fn parse(text: &str, name: &str) -> Result<PatchBody, String> {
    let docs = yaml::parse_documents(text, name).map_err(|e| e.to_string())?;
    if let [Value::Array(_)] = docs.as_slice() {
        let ops: json_patch::Patch = serde_json::from_value(docs[0].clone())
            .map_err(|e| format!("{name}: invalid JSON patch: {e}"))?;
        return Ok(PatchBody::Json(ops));
    }
    Ok(PatchBody::Strategic(docs))
}

/// Applies `patchesStrategicMerge`.
pub fn strategic_merge(
    loader: &Loader<'_>,
    schema: &Schema,
    file: &str,
    entries: &[Value],
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let Some(entry) = entry.as_str() else {
            return Err(RenderError::field(
                file,
                field,
                "must be a file path or an inline patch",
            ));
        };
        if entry.trim().is_empty() {
            return Err(RenderError::field(file, field, "patch appears to be empty"));
        }
        let inline = entry.contains('\n');
        let body = if inline {
            load(loader, None, Some(entry), &field)
        } else {
            load(loader, Some(entry), None, &field)
        }
        .map_err(|e| RenderError::field(file, field.clone(), e))?;
        let PatchBody::Strategic(docs) = body else {
            return Err(RenderError::field(
                file,
                field,
                "a JSON 6902 patch needs a target; use patches",
            ));
        };
        if docs.is_empty() {
            return Err(RenderError::field(file, field, "patch appears to be empty"));
        }
        for doc in docs {
            apply_to_own_id(&mut acc.resources, &doc, schema)
                .map_err(|e| RenderError::field(file, field.clone(), e))?;
        }
    }
    Ok(())
}

/// Applies `patches` (and `patchesJson6902`, which always has a target).
pub fn patches(
    loader: &Loader<'_>,
    schema: &Schema,
    file: &str,
    entries: &[Patch],
    what: &str,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("{what}[{i}]");
        let err = |e: String| RenderError::field(file, field.clone(), e);
        let body = load(
            loader,
            entry.path.as_deref(),
            entry.patch.as_deref(),
            &field,
        )
        .map_err(err)?;
        let allow_name = entry
            .options
            .get("allowNameChange")
            .copied()
            .unwrap_or(false);
        let allow_kind = entry
            .options
            .get("allowKindChange")
            .copied()
            .unwrap_or(false);
        match (&entry.target, body) {
            (None, PatchBody::Json(_)) => {
                return Err(err("must specify a target for a JSON 6902 patch".into()));
            }
            (None, PatchBody::Strategic(docs)) => {
                for doc in docs {
                    apply_to_own_id(&mut acc.resources, &doc, schema).map_err(err)?;
                }
            }
            (Some(target), body) => {
                let selector = Selector::new(target).map_err(err)?;
                apply_to_selected(
                    &mut acc.resources,
                    schema,
                    &selector,
                    &body,
                    allow_name,
                    allow_kind,
                )
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// The identity a strategic-merge patch names.
fn patch_id(doc: &Value) -> ResId {
    let r = Resource::new(doc.clone());
    r.id()
}

fn apply_to_own_id(res: &mut ResMap, doc: &Value, schema: &Schema) -> Result<(), String> {
    let id = patch_id(doc);
    let found = res.matching_any_id(&id);
    let index = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no resource matches strategic merge patch \"{id}\"; failed to find unique target for patch"
            ));
        }
        _ => {
            return Err(format!(
                "multiple matches for Id {id}; failed to find unique target for patch {id}"
            ));
        }
    };
    let target = &res.items[index];
    let doc = retarget(doc, &target.obj, false, false);
    match smp::merge(&target.obj, &doc, schema).map_err(|e| format!("{}: {e}", target.id()))? {
        Some(merged) => res.items[index].replace_obj(merged),
        None => {
            res.items.remove(index);
        }
    }
    Ok(())
}

fn apply_to_selected(
    res: &mut ResMap,
    schema: &Schema,
    selector: &Selector,
    body: &PatchBody,
    allow_name: bool,
    allow_kind: bool,
) -> Result<(), String> {
    let mut deleted = Vec::new();
    for (index, r) in res.items.iter_mut().enumerate() {
        if !selector.selects(r) {
            continue;
        }
        let result = match body {
            PatchBody::Json(ops) => {
                let mut obj = r.obj.clone();
                json6902(&mut obj, ops).map_err(|e| format!("{}: {e}", r.id()))?;
                Some(obj)
            }
            PatchBody::Strategic(docs) => {
                let mut obj = Some(r.obj.clone());
                for doc in docs {
                    let Some(current) = obj else { break };
                    let doc = retarget(doc, &current, allow_name, allow_kind);
                    obj = smp::merge(&current, &doc, schema)
                        .map_err(|e| format!("{}: {e}", r.id()))?;
                }
                obj
            }
        };
        match result {
            Some(obj) => r.replace_obj(obj),
            None => deleted.push(index),
        }
    }
    for index in deleted.into_iter().rev() {
        res.items.remove(index);
    }
    Ok(())
}

/// A targeted strategic-merge patch takes the target's name, namespace and kind unless it is
/// allowed to change them.
fn retarget(doc: &Value, target: &Value, allow_name: bool, allow_kind: bool) -> Value {
    let mut doc = doc.clone();
    let Value::Object(map) = &mut doc else {
        return doc;
    };
    if !allow_kind || !map.contains_key("kind") {
        for key in ["apiVersion", "kind"] {
            if let Some(v) = target.get(key) {
                map.insert(key.into(), v.clone());
            }
        }
    }
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(meta) = meta {
        let keep_name = allow_name && meta.contains_key("name");
        for key in ["name", "namespace"] {
            if key == "name" && keep_name {
                continue;
            }
            match target.get("metadata").and_then(|m| m.get(key)) {
                Some(v) => {
                    meta.insert(key.into(), v.clone());
                }
                None => {
                    meta.remove(key);
                }
            }
        }
    }
    doc
}

/// Applies JSON 6902 operations as kustomize does: a `replace` of a field that does not exist
/// adds it (users write `replace /spec/replicas` on Deployments that leave replicas unset).
fn json6902(obj: &mut Value, ops: &json_patch::Patch) -> Result<(), json_patch::PatchError> {
    for op in &ops.0 {
        let op = match op {
            json_patch::PatchOperation::Replace(r) if obj.pointer(r.path.as_str()).is_none() => {
                json_patch::PatchOperation::Add(json_patch::AddOperation {
                    path: r.path.clone(),
                    value: r.value.clone(),
                })
            }
            other => other.clone(),
        };
        json_patch::patch(obj, &[op])?;
    }
    Ok(())
}
