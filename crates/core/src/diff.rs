//! The comparison of one desired object with its live counterpart, and its text diff.
//!
//! The desired side is what the API server *would* store: the server-side-apply dry-run result
//! of the desired object (or the desired object itself when no dry-run could be made, e.g. a
//! custom resource whose CRD is not installed yet). Both sides are normalized, stripped of
//! ignored fields and, for Secrets, masked before they are compared and printed.

use serde_json::Value;
use similar::TextDiff;

use crate::ignore::{self, IgnoreRule};
use crate::mask;
use crate::normalize::normalize;
use crate::object::ObjectKey;

/// How a desired or live object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffState {
    /// Live matches desired.
    Unchanged,
    /// Live differs from desired.
    Modified,
    /// Desired but not live: it would be created.
    Missing,
    /// Live, owned, and no longer desired: it would be pruned.
    Prune,
}

impl DiffState {
    /// Whether this state is a difference.
    pub fn is_difference(self) -> bool {
        self != DiffState::Unchanged
    }
}

/// The outcome of comparing one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDiff {
    /// The object.
    pub key: ObjectKey,
    /// How it stands.
    pub state: DiffState,
    /// A unified diff (`--- live`, `+++ desired`) of the YAML of both sides; empty when unchanged.
    pub diff: String,
}

/// Compares the `predicted` object (the dry-run result) with `live`, ignoring what `rules` say.
pub fn compare(
    key: &ObjectKey,
    predicted: &Value,
    live: Option<&Value>,
    rules: &[IgnoreRule],
) -> ObjectDiff {
    let mut desired = normalize(predicted);
    let Some(live_obj) = live else {
        return entry(key, DiffState::Missing, None, Some(desired));
    };
    let mut current = normalize(live_obj);
    ignore::strip(rules, key, live_obj, [&mut current, &mut desired]);
    let state = if current == desired {
        DiffState::Unchanged
    } else {
        DiffState::Modified
    };
    entry(key, state, Some(current), Some(desired))
}

/// The entry of a live object that would be pruned.
pub fn pruned(key: &ObjectKey, live: &Value) -> ObjectDiff {
    entry(key, DiffState::Prune, Some(normalize(live)), None)
}

/// The entry for normalized sides: Secrets masked, the text diff made unless unchanged.
fn entry(
    key: &ObjectKey,
    state: DiffState,
    mut live: Option<Value>,
    mut desired: Option<Value>,
) -> ObjectDiff {
    if mask::is_secret(key) {
        mask::mask_pair(live.as_mut(), desired.as_mut());
    }
    let diff = match state {
        DiffState::Unchanged => String::new(),
        _ => unified(key, live.as_ref(), desired.as_ref()),
    };
    ObjectDiff {
        key: key.clone(),
        state,
        diff,
    }
}

/// A unified diff of the YAML of two (normalized, masked) sides, headed by the object's name.
fn unified(key: &ObjectKey, live: Option<&Value>, desired: Option<&Value>) -> String {
    let live_text = live.map(to_yaml).unwrap_or_default();
    let desired_text = desired.map(to_yaml).unwrap_or_default();
    let name = key.to_string();
    TextDiff::from_lines(&live_text, &desired_text)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{name}"), &format!("desired/{name}"))
        .to_string()
}

/// YAML text of `obj`, keys in order; JSON if YAML printing fails (it does not for JSON values).
/// Multi-line strings (a config file in a ConfigMap) print as literal blocks, so a diff shows
/// the changed lines; single-line strings are never folded, so a long value is one line.
fn to_yaml(obj: &Value) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(obj, options)
        .or_else(|_| serde_json::to_string_pretty(obj))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(kind: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: kind.into(),
            namespace: "prod".into(),
            name: "a".into(),
        }
    }

    #[test]
    fn server_fields_are_not_drift_and_a_changed_field_is_the_only_line_reported() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "prod", "uid": "1", "resourceVersion": "5"},
            "data": {"k": "v", "other": "x"}});
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "prod", "uid": "1", "resourceVersion": "6"},
            "data": {"k": "v", "other": "x"}});
        let unchanged = compare(&key("ConfigMap"), &same, Some(&live), &[]);
        assert_eq!(unchanged.state, DiffState::Unchanged);
        assert!(unchanged.diff.is_empty());
        let mut changed = same.clone();
        changed["data"]["k"] = json!("w");
        let modified = compare(&key("ConfigMap"), &changed, Some(&live), &[]);
        assert_eq!(modified.state, DiffState::Modified);
        let lines: Vec<&str> = modified
            .diff
            .lines()
            .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
            .collect();
        assert_eq!(lines, ["-  k: v", "+  k: w"], "{}", modified.diff);
        assert!(
            modified
                .diff
                .starts_with("--- live/ConfigMap prod/a\n+++ desired/ConfigMap prod/a")
        );
    }

    #[test]
    fn a_changed_line_of_an_embedded_file_is_the_only_line_reported_and_long_values_stay_whole() {
        let long = "x".repeat(40) + " " + &"y".repeat(60);
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
            "data": {"app.conf": "port = 80\nhost = a\nlevel = info\n", "long": long}});
        let mut desired = live.clone();
        desired["data"]["app.conf"] = json!("port = 80\nhost = a\nlevel = debug\n");
        let modified = compare(&key("ConfigMap"), &desired, Some(&live), &[]);
        let lines: Vec<&str> = modified
            .diff
            .lines()
            .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
            .collect();
        assert_eq!(
            lines,
            ["-    level = info", "+    level = debug"],
            "{}",
            modified.diff
        );
        assert!(modified.diff.contains(&long), "{}", modified.diff);
    }

    #[test]
    fn secrets_are_masked_in_every_kind_of_entry() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "a"}, "data": {"password": "aHVudGVyMg=="}});
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "a"}, "data": {"password": "c3dvcmRmaXNo"}});
        let entries = [
            compare(&key("Secret"), &desired, Some(&live), &[]),
            compare(&key("Secret"), &desired, None, &[]),
            pruned(&key("Secret"), &live),
        ];
        for entry in entries {
            assert!(entry.state.is_difference());
            assert!(!entry.diff.contains("aHVudGVyMg==") && !entry.diff.contains("c3dvcmRmaXNo"));
            assert!(entry.diff.contains("hidden"), "{}", entry.diff);
        }
    }
}
