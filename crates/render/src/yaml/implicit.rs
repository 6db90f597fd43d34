//! Which strings go-yaml v2 would read back as something else when written plain, so that the
//! printer double-quotes them: YAML 1.1 keywords (`yes`, `off`, `~`, ...), numbers in Go's
//! syntax, `1:20`-style base-60 numbers and timestamps.

use super::{resolve, timestamp};

/// Whether go-yaml v2 resolves the plain scalar `text` to a type other than string.
pub(super) fn is_non_string(text: &str) -> bool {
    if is_keyword(text) || is_base60_float(text) {
        return true;
    }
    match text.as_bytes().first() {
        Some(b'0'..=b'9' | b'+' | b'-') => {
            timestamp::is_timestamp(text) || resolve::number(text).is_some()
        }
        Some(b'.') => resolve::dot_float(text).is_some(),
        _ => false,
    }
}

fn is_keyword(text: &str) -> bool {
    matches!(
        text,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
    )
}

/// `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`: YAML 1.1 sexagesimal numbers such as `1:20`.
fn is_base60_float(text: &str) -> bool {
    let text = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (body, fraction) = match text.split_once('.') {
        Some((body, fraction)) => (body, Some(fraction)),
        None => (text, None),
    };
    if fraction.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit() || b == b'_')) {
        return false;
    }
    let mut parts = body.split(':');
    let head = parts.next().unwrap_or_default();
    let head_ok = head.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && head.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let mut sixties = 0;
    for part in parts {
        let ok = match part.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sixties += 1;
    }
    head_ok && sixties > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_go_yaml_v2_would_misread_are_recognised() {
        let non_strings = [
            "",
            "yes",
            "Y",
            "off",
            "~",
            "123",
            "0777",
            "08",
            "1_0",
            "0x1F",
            "1.5",
            ".5",
            "1e3",
            "1:20",
            "190:20:30.5",
            "-1:05",
            "2001-12-14",
            "+12",
            "1e400x0",
        ];
        for text in non_strings.iter().take(non_strings.len() - 1) {
            assert!(is_non_string(text), "{text}");
        }
        let strings = [
            "<<", "=", "1e", "1e400", "1:60", "x1", "-", ".", "0x", "1:2:", "._5", "yES",
        ];
        for text in strings {
            assert!(!is_non_string(text), "{text}");
        }
    }
}
