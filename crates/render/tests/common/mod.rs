//! Helpers shared by the renderer's integration tests.

use std::collections::BTreeMap;
use std::path::Path;

/// Reads an expectations file: one `case-name reason…` per line; blank lines and `#` comments
/// are skipped.
pub fn read_expectations(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((name, reason)) => (name.to_string(), reason.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}
