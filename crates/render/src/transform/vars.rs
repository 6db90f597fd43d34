//! `vars` (deprecated in kustomize, still common): `$(NAME)` in the fields the `varReference`
//! specs name is replaced, at the end of the build, by a field of another object.

use serde::Deserialize;
use serde_json::Value;

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::fieldspec;
use crate::kustomization::Kustomization;
use crate::resource::{Gvk, ResId};

/// A declared variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Var {
    /// The name used in `$(NAME)`.
    pub name: String,
    /// The object it reads from.
    pub objref: ObjRef,
    /// The field it reads (`metadata.name` when unset).
    #[serde(default)]
    pub fieldref: FieldRef,
}

/// The object a variable reads from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct ObjRef {
    pub api_version: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// The field a variable reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FieldRef {
    /// Dotted path, `metadata.name` when empty.
    pub fieldpath: String,
}

/// Adds `var` to `vars`; a name declared twice is an error (in `field` of `file`).
pub fn add(vars: &mut Vec<Var>, var: Var, file: &str, field: &str) -> Result<(), RenderError> {
    if vars.iter().any(|v| v.name == var.name) {
        return Err(RenderError::field(
            file,
            field,
            format!("var '{}' already encountered", var.name),
        ));
    }
    vars.push(var);
    Ok(())
}

/// Records `k`'s `vars`; a name declared twice is an error.
pub fn declare(file: &str, k: &Kustomization, acc: &mut Accumulator) -> Result<(), RenderError> {
    for (i, raw) in k.vars.iter().enumerate() {
        let var: Var = serde_json::from_value(raw.clone())
            .map_err(|e| RenderError::field(file, format!("vars[{i}]"), e))?;
        add(&mut acc.vars, var, file, "vars")?;
    }
    Ok(())
}

fn objref_id(o: &ObjRef) -> ResId {
    let gvk = if o.api_version.is_empty() {
        Gvk {
            group: o.group.clone(),
            version: o.version.clone(),
            kind: o.kind.clone(),
        }
    } else {
        Gvk::new(&o.api_version, &o.kind)
    };
    ResId {
        gvk,
        name: o.name.clone(),
        namespace: o.namespace.clone(),
    }
}

fn matches(have: &ResId, want: &ResId) -> bool {
    have.gvk.kind == want.gvk.kind
        && have.name == want.name
        && (want.gvk.group.is_empty() || have.gvk.group == want.gvk.group)
        && (want.gvk.version.is_empty() || have.gvk.version == want.gvk.version)
        && (want.namespace.is_empty() || have.same_namespace(want))
}

/// Reads a dotted field path (`spec.ports[0].port`, `metadata.labels.app`).
pub fn read_field<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// The value of every variable, resolved against the finished resources.
pub fn resolve(acc: &Accumulator) -> Result<Vec<(String, Value)>, RenderError> {
    let mut out = Vec::new();
    for var in &acc.vars {
        let want = objref_id(&var.objref);
        let found: Vec<_> = acc
            .resources
            .items
            .iter()
            .filter(|r| r.all_ids().any(|id| matches(&id, &want)))
            .collect();
        let res = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(RenderError::transform(format!(
                    "var '{}' cannot be mapped to a field in the set of known resources (objref {want})",
                    var.name
                )));
            }
            _ => {
                return Err(RenderError::transform(format!(
                    "unable to disambiguate var '{}': {} objects match {want}",
                    var.name,
                    found.len()
                )));
            }
        };
        let path = if var.fieldref.fieldpath.is_empty() {
            "metadata.name"
        } else {
            &var.fieldref.fieldpath
        };
        let value = read_field(&res.obj, path).cloned().ok_or_else(|| {
            RenderError::transform(format!(
                "var '{}': field '{path}' not found in {}",
                var.name,
                res.id()
            ))
        })?;
        out.push((var.name.clone(), value));
    }
    Ok(out)
}

fn substitute(s: &str, values: &[(String, Value)]) -> Value {
    // A string that is exactly one reference takes the value's type.
    for (name, value) in values {
        if s == format!("$({name})") {
            return value.clone();
        }
    }
    let mut out = s.to_string();
    for (name, value) in values {
        let text = match value {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("$({name})"), &text);
    }
    Value::String(out)
}

fn substitute_all(v: &mut Value, values: &[(String, Value)]) {
    match v {
        Value::String(s) if s.contains("$(") => *v = substitute(s, values),
        Value::Array(items) => items.iter_mut().for_each(|i| substitute_all(i, values)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute_all(i, values)),
        _ => {}
    }
}

/// Replaces `$(NAME)` in every `varReference` field.
pub fn apply(acc: &mut Accumulator) -> Result<(), RenderError> {
    if acc.vars.is_empty() {
        return Ok(());
    }
    let values = resolve(acc)?;
    let specs = acc.config.var_reference.clone();
    for r in &mut acc.resources.items {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|f| f.matches(&gvk)) {
            let path = fieldspec::parse_path(&spec.path);
            fieldspec::walk::<RenderError>(&mut r.obj, &path, false, &mut |v| {
                substitute_all(v, &values);
                Ok(())
            })?;
        }
    }
    Ok(())
}
