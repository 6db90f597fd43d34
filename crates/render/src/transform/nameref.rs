//! Name references: after prefixes, suffixes, namespaces and hashes have renamed objects, every
//! field that refers to one of them by name (the `nameReference` specs) is updated to the new
//! name. A reference is matched against every name the object has had, among objects whose
//! namespace the referrer can see; role bindings' subjects move namespace along with their
//! ServiceAccount.

use serde_json::Value;

use crate::config::NameBackReference;
use crate::error::RenderError;
use crate::fieldspec::{self, FieldSpec, Segment};
use crate::resmap::ResMap;
use crate::resource::{ResId, Resource, effective_namespace};

/// Fixes every name reference in `res`.
pub fn apply(res: &mut ResMap, backrefs: &[NameBackReference]) -> Result<(), RenderError> {
    // Fixing references renames nothing, so every object's identity is read once.
    let referrers: Vec<Referrer> = res.items.iter().map(Referrer::of).collect();
    for backref in backrefs {
        let candidates: Vec<Candidate> = res
            .items
            .iter()
            .zip(&referrers)
            .filter(|(_, r)| backref.refers_to(&r.id.gvk))
            .map(|(res, _)| Candidate::of(res))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let specs: Vec<(&FieldSpec, Vec<Segment>)> = backref
            .field_specs
            .iter()
            .map(|spec| (spec, fieldspec::parse_path(&spec.path)))
            .collect();
        for (item, referrer) in res.items.iter_mut().zip(&referrers) {
            for (_, path) in specs
                .iter()
                .filter(|(spec, _)| spec.matches(&referrer.id.gvk))
            {
                update(&mut item.obj, path, referrer, &candidates, &backref.kind)?;
            }
        }
    }
    Ok(())
}

/// An object that may be referred to: every identity it has had (the current one last).
struct Candidate {
    previous: Vec<ResId>,
    current: ResId,
    affixes: (Vec<String>, Vec<String>),
}

impl Candidate {
    fn of(r: &Resource) -> Self {
        Self {
            previous: r.previous.clone(),
            current: r.id(),
            affixes: (r.prefixes.clone(), r.suffixes.clone()),
        }
    }

    fn had_name(&self, name: &str) -> bool {
        self.current.name == name || self.previous.iter().any(|id| id.name == name)
    }

    fn all_ids(&self) -> impl Iterator<Item = &ResId> {
        self.previous.iter().chain(std::iter::once(&self.current))
    }
}

struct Referrer {
    id: ResId,
    affixes: (Vec<String>, Vec<String>),
}

impl Referrer {
    fn of(r: &Resource) -> Self {
        Self {
            id: r.id(),
            affixes: (r.prefixes.clone(), r.suffixes.clone()),
        }
    }
}

fn update(
    obj: &mut Value,
    path: &[Segment],
    referrer: &Referrer,
    candidates: &[Candidate],
    kind: &str,
) -> Result<(), RenderError> {
    // Walk to the parent of the last field, so a sibling `kind` (roleRef, scaleTargetRef) can be
    // checked and a sibling `namespace` (subjects) read and updated.
    let Some((last, parent)) = path.split_last() else {
        return Ok(());
    };
    let Segment::Key(last) = last else {
        return Ok(());
    };
    fieldspec::walk::<RenderError>(obj, parent, false, &mut |holder| match holder {
        Value::Array(items) => {
            for item in items {
                update_in(item, last, referrer, candidates, kind)?;
            }
            Ok(())
        }
        other => update_in(other, last, referrer, candidates, kind),
    })
}

fn update_in(
    holder: &mut Value,
    field: &str,
    referrer: &Referrer,
    candidates: &[Candidate],
    kind: &str,
) -> Result<(), RenderError> {
    let Value::Object(map) = holder else {
        return Ok(());
    };
    if let Some(sibling_kind) = map.get("kind").and_then(Value::as_str)
        && field == "name"
        && sibling_kind != kind
    {
        return Ok(());
    }
    let explicit_ns = if field == "name" {
        match map.get("namespace") {
            Some(Value::String(ns)) if !ns.is_empty() => Some(ns.clone()),
            Some(Value::Null) | Some(Value::String(_)) => {
                let name = map.get(field).and_then(Value::as_str).unwrap_or_default();
                if candidates.iter().any(|c| c.had_name(name)) {
                    return Err(RenderError::transform(format!(
                        "Invalid Input: namespace is blank for resource {} (subject {name})",
                        referrer.id
                    )));
                }
                None
            }
            _ => None,
        }
    } else {
        None
    };
    let is_subject = kind == "ServiceAccount" && map.contains_key("kind");
    let Some(value) = map.get_mut(field) else {
        return Ok(());
    };
    match value {
        Value::String(name) => {
            if let Some(c) = select(
                name,
                explicit_ns.as_deref(),
                is_subject,
                referrer,
                candidates,
            )? {
                *name = c.current.name.clone();
                let is_subject = kind == "ServiceAccount" && map.contains_key("kind");
                if (explicit_ns.is_some() || is_subject) && !c.current.namespace.is_empty() {
                    map.insert(
                        "namespace".into(),
                        Value::String(c.current.namespace.clone()),
                    );
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                match item {
                    Value::String(name) => {
                        if let Some(c) = select(name, None, false, referrer, candidates)? {
                            *name = c.current.name.clone();
                        }
                    }
                    Value::Object(_) => update_in(item, "name", referrer, candidates, kind)?,
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn select<'c>(
    name: &str,
    explicit_ns: Option<&str>,
    writes_namespace: bool,
    referrer: &Referrer,
    candidates: &'c [Candidate],
) -> Result<Option<&'c Candidate>, RenderError> {
    let mut found: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.had_name(name))
        .filter(|c| visible(c, explicit_ns, referrer))
        .collect();
    // Like kustomize: among several, prefer objects renamed like the referrer — first
    // comparing only where both have prefixes (suffixes), then strictly.
    let (mine_p, mine_s) = &referrer.affixes;
    if found.len() > 1 {
        found.retain(|c| {
            (c.affixes.0.is_empty() || mine_p.is_empty() || same_ending(&c.affixes.0, mine_p))
                && (c.affixes.1.is_empty()
                    || mine_s.is_empty()
                    || same_ending(&c.affixes.1, mine_s))
        });
    }
    if found.len() > 1 {
        found.retain(|c| same_ending(&c.affixes.0, mine_p) && same_ending(&c.affixes.1, mine_s));
    }
    if let (Some(ns), true) = (explicit_ns, found.len() > 1) {
        // A reference that names a namespace an overlay moved the object out of follows it.
        if found.iter().any(|c| c.current.namespace != ns) {
            found.retain(|c| c.current.namespace != ns);
        }
    }
    let same = |a: &Candidate, b: &Candidate| {
        a.current.name == b.current.name
            && (!writes_namespace || a.current.namespace == b.current.namespace)
    };
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        [first, rest @ ..] if rest.iter().all(|c| same(c, first)) => Ok(Some(first)),
        many => Err(RenderError::transform(format!(
            "found multiple possible referrals: {} (referred to as '{name}' by {})",
            many.iter()
                .map(|c| c.current.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            referrer.id
        ))),
    }
}

/// Whether the referrer can refer to the candidate: same namespace for namespaced objects, any
/// for cluster-scoped ones; an explicit namespace next to the name must be one the candidate had.
fn visible(c: &Candidate, explicit_ns: Option<&str>, referrer: &Referrer) -> bool {
    if c.current.gvk.is_cluster_scoped() {
        return true;
    }
    if let Some(ns) = explicit_ns {
        return c.all_ids().any(|id| {
            effective_namespace(&id.gvk, &id.namespace) == effective_namespace(&id.gvk, ns)
        });
    }
    if referrer.id.gvk.is_cluster_scoped() {
        return true;
    }
    effective_namespace(&c.current.gvk, &c.current.namespace)
        == effective_namespace(&referrer.id.gvk, &referrer.id.namespace)
}

/// Whether the shorter list ends the longer one (an empty list only matches an empty one).
fn same_ending(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.len() == b.len();
    }
    a.ends_with(b) || b.ends_with(a)
}
