//! Non-panicking, typed reads of a live object's fields for the health rules: a missing or null
//! field reads as absent, a field of the wrong type is an `Invalid` naming its path.

use std::fmt;

use serde_json::Value;

/// A field that is present but holds the wrong type. Never leaves the health module: `assess`
/// turns it into an `Unknown` health whose message is this value's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    path: String,
    expected: &'static str,
}

impl Invalid {
    /// The field at `path` (empty for the object itself) is not `expected` (`"an integer"`).
    pub(super) fn new(path: &[&str], expected: &'static str) -> Invalid {
        Invalid {
            path: path.join("."),
            expected,
        }
    }

    /// The same problem, seen from the list at `list_path` that holds the object at `index`.
    pub(super) fn under(self, list_path: &[&str], index: usize) -> Invalid {
        let item = format!("{}[{index}]", list_path.join("."));
        let path = if self.path.is_empty() {
            item
        } else {
            format!("{item}.{}", self.path)
        };
        Invalid { path, ..self }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "cannot assess health: the object is not {}",
                self.expected
            )
        } else {
            write!(
                f,
                "cannot assess health: field {} is not {}",
                self.path, self.expected
            )
        }
    }
}

/// The outcome of reading a field.
pub(super) type Read<T> = Result<T, Invalid>;

/// The value at `path`, or `None` when a step is missing or null.
pub(super) fn field<'a>(obj: &'a Value, path: &[&str]) -> Read<Option<&'a Value>> {
    let mut current = obj;
    for (depth, key) in path.iter().enumerate() {
        let map = match current {
            Value::Object(map) => map,
            Value::Null => return Ok(None),
            _ => return Err(Invalid::new(&path[..depth], "a mapping")),
        };
        match map.get(*key) {
            None | Some(Value::Null) => return Ok(None),
            Some(value) => current = value,
        }
    }
    Ok(Some(current))
}

/// The integer at `path`.
pub(super) fn int(obj: &Value, path: &[&str]) -> Read<Option<i64>> {
    typed(obj, path, "an integer", Value::as_i64)
}

/// The count at `path`, zero when absent (the meaning of an omitted Kubernetes count).
pub(super) fn count(obj: &Value, path: &[&str]) -> Read<i64> {
    Ok(non_negative(obj, path)?.unwrap_or(0))
}

/// The wanted number of replicas at `path`, one when absent (the API server's default).
pub(super) fn desired(obj: &Value, path: &[&str]) -> Read<i64> {
    Ok(non_negative(obj, path)?.unwrap_or(1))
}

fn non_negative(obj: &Value, path: &[&str]) -> Read<Option<i64>> {
    typed(obj, path, "a non-negative integer", |v| {
        v.as_i64().filter(|n| *n >= 0)
    })
}

/// The string at `path`.
pub(super) fn string<'a>(obj: &'a Value, path: &[&str]) -> Read<Option<&'a str>> {
    typed(obj, path, "a string", Value::as_str)
}

/// The boolean at `path`, false when absent.
pub(super) fn flag(obj: &Value, path: &[&str]) -> Read<bool> {
    Ok(typed(obj, path, "a boolean", Value::as_bool)?.unwrap_or(false))
}

/// The list at `path`, empty when absent.
pub(super) fn list<'a>(obj: &'a Value, path: &[&str]) -> Read<&'a [Value]> {
    Ok(typed(obj, path, "a list", |v| v.as_array().map(Vec::as_slice))?.unwrap_or_default())
}

/// The list of strings at `path`, empty when absent.
pub(super) fn strings<'a>(obj: &'a Value, path: &[&str]) -> Read<Vec<&'a str>> {
    list(obj, path)?
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| Invalid::new(path, "a list of strings"))
        })
        .collect()
}

fn typed<'a, T>(
    obj: &'a Value,
    path: &[&str],
    expected: &'static str,
    read: impl Fn(&'a Value) -> Option<T>,
) -> Read<Option<T>> {
    match field(obj, path)? {
        None => Ok(None),
        Some(value) => read(value)
            .map(Some)
            .ok_or_else(|| Invalid::new(path, expected)),
    }
}

/// One entry of a `status.conditions` list, as the health rules read it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Condition<'a> {
    /// `type`, such as `Ready`.
    pub(super) kind: &'a str,
    /// `status`: `True`, `False` or `Unknown`.
    pub(super) status: &'a str,
    /// `reason`, a PascalCase word (may be empty).
    pub(super) reason: &'a str,
    /// `message`, for humans (may be empty).
    pub(super) message: &'a str,
}

impl Condition<'_> {
    /// Whether the condition's status is `True`.
    pub(super) fn is_true(&self) -> bool {
        self.status == "True"
    }

    /// Whether the condition's status is `False`.
    pub(super) fn is_false(&self) -> bool {
        self.status == "False"
    }

    /// `prefix: message (Reason)`, leaving out what is empty.
    pub(super) fn explain(&self, prefix: &str) -> String {
        let mut text = prefix.to_string();
        if !self.message.is_empty() {
            text.push_str(": ");
            text.push_str(self.message);
        }
        if !self.reason.is_empty() {
            if self.message.is_empty() {
                text.push_str(": ");
                text.push_str(self.reason);
            } else {
                text.push_str(&format!(" ({})", self.reason));
            }
        }
        text
    }
}

/// The conditions in `status.conditions`.
pub(super) fn conditions(obj: &Value) -> Read<Vec<Condition<'_>>> {
    let path = ["status", "conditions"];
    conditions_in(list(obj, &path)?, &path)
}

/// The conditions in a list found at `path` (used for error messages).
pub(super) fn conditions_in<'a>(items: &'a [Value], path: &[&str]) -> Read<Vec<Condition<'a>>> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let text = |name| {
                let text = string(item, &[name]).map_err(|e| e.under(path, index))?;
                Ok(text.unwrap_or_default())
            };
            Ok(Condition {
                kind: text("type")?,
                status: text("status")?,
                reason: text("reason")?,
                message: text("message")?,
            })
        })
        .collect()
}

/// The first condition of the given type.
pub(super) fn find<'a>(conditions: &[Condition<'a>], kind: &str) -> Option<Condition<'a>> {
    conditions.iter().find(|c| c.kind == kind).copied()
}
