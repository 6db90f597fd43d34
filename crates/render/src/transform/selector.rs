//! Patch and replacement targets: group, version, kind, name and namespace (names and
//! namespaces as anchored regular expressions), label and annotation selectors in Kubernetes'
//! syntax (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`). A resource is selected
//! when any identity it has had (current, original or in between) matches. Group, version and kind are anchored
//! regular expressions too (`kind: Deployment|.*Set`), as in kustomize 5.

use regex::Regex;
use serde_json::{Map, Value};

use crate::kustomization::Target;
use crate::resource::{ResId, Resource};

/// A compiled target.
#[derive(Debug)]
pub struct Selector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("invalid regular expression '{pattern}': {e}"))
}

impl Selector {
    /// Compiles `target`; errors name the bad expression.
    pub fn new(target: &Target) -> Result<Self, String> {
        let compile = |field: &Option<String>| {
            field
                .as_deref()
                .filter(|n| !n.is_empty())
                .map(anchored)
                .transpose()
        };
        Ok(Self {
            group: compile(&target.group)?,
            version: compile(&target.version)?,
            kind: compile(&target.kind)?,
            name: compile(&target.name)?,
            namespace: compile(&target.namespace)?,
            labels: parse_selector(target.label_selector.as_deref().unwrap_or(""))?,
            annotations: parse_selector(target.annotation_selector.as_deref().unwrap_or(""))?,
        })
    }

    /// Whether `r` is selected.
    pub fn selects(&self, r: &Resource) -> bool {
        // Building the current identity allocates: only when the name can match.
        let id_ok = r.previous.iter().any(|id| self.id_matches(id))
            || (self.name.as_ref().is_none_or(|re| re.is_match(r.name()))
                && self.id_matches(&r.id()));
        id_ok
            && matches_all(&self.labels, r.meta_map("labels"))
            && matches_all(&self.annotations, r.meta_map("annotations"))
    }

    fn id_matches(&self, id: &ResId) -> bool {
        let ok = |re: &Option<Regex>, have: &str| re.as_ref().is_none_or(|re| re.is_match(have));
        ok(&self.group, &id.gvk.group)
            && ok(&self.version, &id.gvk.version)
            && ok(&self.kind, &id.gvk.kind)
            && ok(&self.name, &id.name)
            && ok(&self.namespace, &id.namespace)
    }
}

fn matches_all(reqs: &[Requirement], map: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| {
        map.and_then(|m| m.get(k)).map(|v| {
            v.as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string())
        })
    };
    reqs.iter().all(|req| match req {
        Requirement::Equals(k, v) => get(k).as_deref() == Some(v),
        Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v),
        Requirement::In(k, vs) => get(k).is_some_and(|have| vs.contains(&have)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|have| !vs.contains(&have)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
    })
}

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    for term in split_terms(s)
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let set = |rest: &str| -> Vec<String> {
            rest.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|v| v.trim().to_string())
                .collect()
        };
        let req = if let Some((k, v)) = term.split_once("!=") {
            Requirement::NotEquals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            Requirement::Equals(k.trim().into(), v.trim().into())
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(rest))
        } else if let Some((k, rest)) = term.split_once(" in ") {
            Requirement::In(k.trim().into(), set(rest))
        } else if let Some(k) = term.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else if term
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./".contains(c))
        {
            Requirement::Exists(term.into())
        } else {
            return Err(format!("invalid selector term '{term}'"));
        };
        reqs.push(req);
    }
    Ok(reqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(labels: Value) -> Resource {
        Resource::new(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web-1", "namespace": "prod", "labels": labels}}))
    }

    fn target(kind: &str, name: &str, labels: &str) -> Target {
        Target {
            kind: Some(kind.into()),
            name: Some(name.into()),
            label_selector: Some(labels.into()),
            ..Target::default()
        }
    }

    #[test]
    fn selectors_match_kind_anchored_name_regex_and_labels() {
        let r = res(json!({"app": "web", "tier": "front"}));
        let cases = [
            (target("Deployment", "web-.*", ""), true),
            (target("Deployment", "web", ""), false),
            (
                target("Deployment", "", "app=web,tier in (front, back)"),
                true,
            ),
            (target("Deployment", "", "app=web,!tier"), false),
            (target("Deployment", "", "app!=web"), false),
            (target("Deployment", "", "tier notin (back)"), true),
            (target("StatefulSet", "", ""), false),
        ];
        for (t, want) in cases {
            assert_eq!(Selector::new(&t).unwrap().selects(&r), want, "{t:?}");
        }
        assert!(Selector::new(&target("Deployment", "(", "")).is_err());
    }
}
