//! The block layout of a printed document, as go-yaml v2 lays it out: two-space indentation,
//! sequences under a key not indented (`- ` at the key's column), collections inside a sequence
//! item started on the item's line (`- - a`, `- a: 1`), `{}` and `[]` for empty collections, keys
//! longer than 128 bytes or spanning lines as `? key` / `: value`.

use serde_json::{Map, Value};

use super::{keys, number, scalar};

/// The text being printed and the column (in characters) it has reached.
pub(super) struct Out {
    text: String,
    pub(super) column: usize,
}

impl Out {
    pub(super) fn new() -> Self {
        Out {
            text: String::new(),
            column: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    pub(super) fn push(&mut self, c: char) {
        self.text.push(c);
        self.column += 1;
    }

    pub(super) fn push_str(&mut self, s: &str) {
        self.text.push_str(s);
        self.column += s.chars().count();
    }

    pub(super) fn newline(&mut self) {
        self.text.push('\n');
        self.column = 0;
    }

    /// Breaks the line and moves to `indent`.
    pub(super) fn indent(&mut self, indent: usize) {
        self.newline();
        self.indent_from_line_start(indent);
    }

    /// Pads the current line up to `indent`.
    pub(super) fn indent_from_line_start(&mut self, indent: usize) {
        while self.column < indent {
            self.push(' ');
        }
    }

    /// Starts a node at `indent` on a fresh line, unless `inline` (right after `- `, `? `, `: `).
    fn start(&mut self, indent: usize, inline: bool) {
        if inline {
            return;
        }
        if self.column != 0 {
            self.newline();
        }
        self.indent_from_line_start(indent);
    }
}

/// Prints one document, ending in a newline.
pub(super) fn document(value: &Value) -> String {
    let mut out = Out::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0, false),
        other => leaf(&mut out, other, 2),
    }
    if out.column != 0 {
        out.newline();
    }
    out.text
}

fn mapping(out: &mut Out, map: &Map<String, Value>, indent: usize, inline: bool) {
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    keys::sort(&mut names);
    let entries = names
        .into_iter()
        .filter_map(|key| Some((key, map.get(key)?)));
    for (index, (key, value)) in entries.enumerate() {
        out.start(indent, inline && index == 0);
        if scalar::is_simple_key(key) {
            scalar::write(out, key, indent + 2, true);
            out.push(':');
            value_after_key(out, value, indent);
        } else {
            out.push_str("? ");
            scalar::write(out, key, indent + 2, false);
            out.start(indent, false);
            out.push_str(": ");
            item(out, value, indent + 2);
        }
    }
}

/// The value of a simple `key:` at `indent`.
fn value_after_key(out: &mut Out, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, indent + 2, false),
        Value::Array(items) if !items.is_empty() => sequence(out, items, indent, false),
        other => {
            out.push(' ');
            leaf(out, other, indent + 2);
        }
    }
}

fn sequence(out: &mut Out, items: &[Value], indent: usize, inline: bool) {
    for (index, value) in items.iter().enumerate() {
        out.start(indent, inline && index == 0);
        out.push_str("- ");
        item(out, value, indent + 2);
    }
}

/// A node written right after `- ` or `: `, its own lines at `indent`.
fn item(out: &mut Out, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, indent, true),
        Value::Array(items) if !items.is_empty() => sequence(out, items, indent, true),
        other => leaf(out, other, indent),
    }
}

/// A scalar or an empty collection at the current position.
fn leaf(out: &mut Out, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number::format(n)),
        Value::String(text) => scalar::write(out, text, indent, false),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}
