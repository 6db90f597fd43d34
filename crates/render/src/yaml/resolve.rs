//! What a scalar means when read, as go-yaml v3 decides it: the YAML 1.2 core schema (only
//! `true`/`false` in three spellings are booleans; `yes`, `on`, ... stay strings) plus go-yaml's
//! extras: Go integer syntax with `0x`/`0o`/`0b`/leading-zero octal prefixes, underscores between
//! digits, and plain timestamps, which kustomize turns into RFC 3339 strings.

use serde_json::Value;

use super::{number as print_number, timestamp};

/// What a scalar's text and tag resolve to.
#[derive(Debug, PartialEq)]
pub(super) enum Resolved {
    /// An ordinary value.
    Value(Value),
    /// The `<<` merge key.
    Merge,
}

/// The explicit tag on a scalar, reduced to what matters when reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarTag<'a> {
    /// No tag.
    None,
    /// A core-schema tag (`!!str`, `!!int`, ...), by its name.
    Core(&'a str),
    /// The non-specific `!` tag or an application tag: the text stays a string.
    Other,
}

/// Resolves a scalar: `plain` says whether it was written without quotes or block indicators.
pub(super) fn scalar(text: &str, plain: bool, tag: ScalarTag<'_>) -> Result<Resolved, String> {
    match tag {
        ScalarTag::None if plain => untagged_plain(text),
        ScalarTag::None | ScalarTag::Other => Ok(Resolved::Value(Value::String(text.into()))),
        ScalarTag::Core("merge") if text == "<<" => Ok(Resolved::Merge),
        ScalarTag::Core(name) => tagged(text, name).map(Resolved::Value),
    }
}

/// A plain scalar without a tag.
fn untagged_plain(text: &str) -> Result<Resolved, String> {
    if text == "<<" {
        return Ok(Resolved::Merge);
    }
    if let Some(value) = keyword(text)? {
        return Ok(Resolved::Value(value));
    }
    let value = match text.as_bytes().first() {
        Some(b'0'..=b'9' | b'+' | b'-') => timestamp::resolve(text)
            .map(Value::String)
            .or_else(|| number(text))
            .unwrap_or_else(|| Value::String(text.into())),
        Some(b'.') => dot_float(text).unwrap_or_else(|| Value::String(text.into())),
        _ => Value::String(text.into()),
    };
    Ok(Resolved::Value(value))
}

/// The fixed spellings of null, booleans and the non-finite floats (which JSON cannot hold).
fn keyword(text: &str) -> Result<Option<Value>, String> {
    Ok(Some(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(format!(
                "the non-finite number {text} cannot be represented in JSON"
            ));
        }
        _ => return Ok(None),
    }))
}

/// A scalar with a core-schema tag.
fn tagged(text: &str, name: &str) -> Result<Value, String> {
    let wrong = || format!("cannot read {text:?} as !!{name}");
    match name {
        "null" => Ok(Value::Null),
        "bool" => match keyword(text) {
            Ok(Some(value @ Value::Bool(_))) => Ok(value),
            _ => Err(wrong()),
        },
        "int" => go_integer(&text.replace('_', "")).ok_or_else(wrong),
        "float" => {
            let value = number(text).or_else(|| dot_float(text)).ok_or_else(wrong)?;
            let float = value.as_f64().ok_or_else(wrong)?;
            print_number::from_float(float).ok_or_else(wrong)
        }
        "timestamp" => timestamp::resolve(text)
            .map(Value::String)
            .ok_or_else(wrong),
        _ => Ok(Value::String(text.into())),
    }
}

/// An integer in Go's syntax (after dropping underscores), else a YAML-style float, else go-yaml's
/// own `0b`/`0o` forms, which take a sign after the prefix (`0b-101` is -5).
pub(super) fn number(text: &str) -> Option<Value> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(value) = go_integer(&plain) {
        return Some(value);
    }
    if is_yaml_float(&plain)
        && let Some(value) = finite_float(&plain)
    {
        return Some(value);
    }
    let (radix, rest) = if let Some(rest) = plain.strip_prefix("0b") {
        (2, rest)
    } else {
        (8, plain.strip_prefix("0o")?)
    };
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(rest, radix).ok().map(Value::from)
}

/// A float spelled from its `.` (`.5`, `.5e3`), read by Go's `ParseFloat`, which allows an
/// underscore only between two digits (`.9_37`, not `._5` or `.5_`).
pub(super) fn dot_float(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let underscores_ok = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'_'
            || (i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
    });
    let plain = text.replace('_', "");
    if underscores_ok && is_yaml_float(&plain) {
        finite_float(&plain)
    } else {
        None
    }
}

/// A finite float, as the integer kustomize prints it as when it prints as one.
fn finite_float(text: &str) -> Option<Value> {
    print_number::from_float(text.parse().ok()?)
}

/// Go's `ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)`: optional sign, then `0x`,
/// `0o`, `0b` or a leading `0` (octal) prefix, or decimal digits.
pub(super) fn go_integer(text: &str) -> Option<Value> {
    let (negative, signed, body) = match text.as_bytes().first()? {
        b'-' => (true, true, &text[1..]),
        b'+' => (false, true, &text[1..]),
        _ => (false, false, text),
    };
    let (radix, digits) = radix_and_digits(body);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = 0i128 - i128::from(magnitude);
        return i64::try_from(value).ok().map(Value::from);
    }
    match i64::try_from(magnitude) {
        Ok(value) => Some(Value::from(value)),
        Err(_) if !signed => Some(Value::from(magnitude)),
        Err(_) => None,
    }
}

fn radix_and_digits(body: &str) -> (u32, &str) {
    let prefixes: [(&str, u32); 6] = [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ];
    for (prefix, radix) in prefixes {
        if let Some(digits) = body.strip_prefix(prefix) {
            return (radix, digits);
        }
    }
    if body.len() > 1 && body.starts_with('0') {
        return (8, &body[1..]);
    }
    (10, body)
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, the float shape go-yaml accepts.
pub(super) fn is_yaml_float(text: &str) -> bool {
    let text = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(text: &str) -> Value {
        match scalar(text, true, ScalarTag::None) {
            Ok(Resolved::Value(value)) => value,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v3_reads_them() {
        let cases = [
            ("yes", json!("yes")),
            ("off", json!("off")),
            ("True", json!(true)),
            ("FALSE", json!(false)),
            ("~", json!(null)),
            ("", json!(null)),
            ("0777", json!(511)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("-0b101", json!(-5)),
            ("1_000", json!(1000)),
            ("+12", json!(12)),
            ("09", json!(9)),
            ("1.0", json!(1)),
            ("1e6", json!(1000000)),
            ("1.5", json!(1.5)),
            ("9223372036854775808.0", json!(9223372036854776000u64)),
            ("1e20", json!(1e20)),
            (".5", json!(0.5)),
            ("3.", json!(3)),
            ("1e", json!("1e")),
            ("1e400", json!("1e400")),
            ("12345678901234567890", json!(12345678901234567890u64)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("1:20", json!("1:20")),
            ("._5", json!("._5")),
            (".5_", json!(".5_")),
            (".9_37", json!(0.937)),
            (".5e1_0", json!(5000000000u64)),
            ("0b-101", json!(-5)),
            ("-0b-1", json!("-0b-1")),
            ("-0o+7", json!("-0o+7")),
            ("0o-8", json!("0o-8")),
            ("0o_7", json!(7)),
            ("-_0x1_0", json!(-16)),
            ("2001-12-1_4", json!("2001-12-1_4")),
            ("1e1_0", json!(10000000000u64)),
            ("0x", json!("0x")),
            ("-", json!("-")),
            ("2001-12-14", json!("2001-12-14T00:00:00Z")),
        ];
        for (text, want) in cases {
            assert_eq!(plain(text), want, "{text}");
        }
    }

    #[test]
    fn tags_override_what_the_text_looks_like() {
        let core = |text: &str, name: &str| scalar(text, false, ScalarTag::Core(name));
        assert_eq!(core("123", "str"), Ok(Resolved::Value(json!("123"))));
        assert_eq!(core("5", "int"), Ok(Resolved::Value(json!(5))));
        assert_eq!(core("3", "float"), Ok(Resolved::Value(json!(3))));
        assert_eq!(core("0.5", "float"), Ok(Resolved::Value(json!(0.5))));
        assert_eq!(core("true", "bool"), Ok(Resolved::Value(json!(true))));
        assert!(core("x", "int").is_err());
        let other = scalar("123", true, ScalarTag::Other);
        assert_eq!(other, Ok(Resolved::Value(json!("123"))));
    }

    #[test]
    fn non_finite_floats_are_refused() {
        assert!(scalar(".inf", true, ScalarTag::None).is_err());
    }
}
