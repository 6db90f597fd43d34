//! Plain timestamps. go-yaml (v2 and v3) reads an unquoted `2001-12-14`, `2001-12-14T21:59:43.1Z`,
//! `2001-12-14t21:59:43-05:00` or `2001-12-14 21:59:43` as a time, and kustomize then writes it
//! back through JSON as an RFC 3339 string (`2001-12-14T00:00:00Z`). The accepted shapes are those
//! of Go's `time.Parse` with the layouts go-yaml tries: one- or two-digit month, day, hour, minute
//! and second, an optional fraction, and for `T`/`t` a `Z` or `±hh:mm` zone.

/// A parsed timestamp, fields as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Fraction digits as written, at most nine.
    fraction: String,
    /// Offset from UTC in minutes.
    offset: i32,
}

/// The RFC 3339 text kustomize writes for a plain scalar go-yaml reads as a timestamp.
pub(super) fn resolve(text: &str) -> Option<String> {
    parse(text).map(|t| format(&t))
}

/// Whether go-yaml reads the plain scalar `text` as a timestamp.
pub(super) fn is_timestamp(text: &str) -> bool {
    parse(text).is_some()
}

fn parse(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 5 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return None;
    }
    let year = text[..4].parse().ok()?;
    let mut rest = &text[5..];
    let month = number(&mut rest)?;
    literal(&mut rest, b'-')?;
    let day = number(&mut rest)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let mut time = Timestamp {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        fraction: String::new(),
        offset: 0,
    };
    if rest.is_empty() {
        return Some(time);
    }
    let separator = rest.as_bytes()[0];
    if !matches!(separator, b'T' | b't' | b' ') {
        return None;
    }
    rest = &rest[1..];
    clock(&mut rest, &mut time)?;
    if separator != b' ' {
        time.offset = zone(&mut rest)?;
    }
    rest.is_empty().then_some(time)
}

/// `15:4:5` with an optional `.999999999` fraction.
fn clock(rest: &mut &str, time: &mut Timestamp) -> Option<()> {
    time.hour = number(rest)?;
    literal(rest, b':')?;
    time.minute = number(rest)?;
    literal(rest, b':')?;
    time.second = number(rest)?;
    if time.hour > 23 || time.minute > 59 || time.second > 59 {
        return None;
    }
    let bytes = rest.as_bytes();
    if bytes.len() >= 2 && matches!(bytes[0], b'.' | b',') && bytes[1].is_ascii_digit() {
        let digits = bytes[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        time.fraction = rest[1..1 + digits.min(9)].to_string();
        *rest = &rest[1 + digits..];
    }
    Some(())
}

/// `Z` or `±hh:mm`, in minutes.
fn zone(rest: &mut &str) -> Option<i32> {
    if let Some(after) = rest.strip_prefix('Z') {
        *rest = after;
        return Some(0);
    }
    let bytes = rest.as_bytes();
    if bytes.len() < 6 || bytes[3] != b':' {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |s: &[u8]| -> Option<i32> {
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| i32::from(s[0] - b'0') * 10 + i32::from(s[1] - b'0'))
    };
    let (hours, minutes) = (two(&bytes[1..3])?, two(&bytes[4..6])?);
    if hours > 24 || minutes > 60 {
        return None;
    }
    *rest = &rest[6..];
    Some(sign * (hours * 60 + minutes))
}

/// One or two digits.
fn number(rest: &mut &str) -> Option<u32> {
    let digits = rest.bytes().take(2).take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let value = rest[..digits].parse().ok()?;
    *rest = &rest[digits..];
    Some(value)
}

fn literal(rest: &mut &str, byte: u8) -> Option<()> {
    let after = rest.strip_prefix(char::from(byte))?;
    *rest = after;
    Some(())
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's RFC 3339 with nanoseconds: trailing zeros of the fraction dropped, `Z` for UTC.
fn format(t: &Timestamp) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    let fraction = t.fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    if t.offset == 0 {
        out.push('Z');
    } else {
        let sign = if t.offset < 0 { '-' } else { '+' };
        let minutes = t.offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_the_rfc3339_text_kustomize_writes() {
        let cases = [
            ("2001-12-14", Some("2001-12-14T00:00:00Z")),
            (
                "2001-12-14T21:59:43.10-05:00",
                Some("2001-12-14T21:59:43.1-05:00"),
            ),
            ("2001-12-14t21:59:43Z", Some("2001-12-14T21:59:43Z")),
            ("2001-12-14 21:59:43.10", Some("2001-12-14T21:59:43.1Z")),
            ("2001-1-4T1:2:3+00:00", Some("2001-01-04T01:02:03Z")),
            ("2024-02-29", Some("2024-02-29T00:00:00Z")),
            ("2023-02-29", None),
            ("2001-12-14 21:59:43.10 -5", None),
            ("2001-13-01", None),
            ("2001-12-14T21:59:43", None),
            ("20011-12-14", None),
            ("2001-12", None),
        ];
        for (text, want) in cases {
            assert_eq!(resolve(text).as_deref(), want, "{text}");
        }
    }
}
