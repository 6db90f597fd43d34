//! Go-syntax durations (`1m30s`, `3m`, `5s`, `1h`, `250ms`), as Argo CD and Flux write them in
//! their specs: the one parser every Capstan crate uses, and the pattern the CRD validates with.
//!
//! The accepted language is a strict subset of Go's `time.ParseDuration`: one or more
//! `<digits>[.<digits>]<unit>` parts (units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare
//! `0`. Not accepted, unlike Go: signs (a negative interval means nothing here), a fraction without
//! digits on both sides (`.5s`, `1.s`) and the Greek-mu spelling `μs` — each has a plain spelling,
//! and one grammar lets the API server refuse exactly what this parser refuses
//! ([`DURATION_PATTERN`]). Like Go, a duration may not exceed `i64::MAX` nanoseconds (about 292
//! years); the parser never panics on overflow (which rules out `kube_core::Duration`, whose
//! parser multiplies with `Duration::mul_f64` and panics on large values, and accepts `""`).

use std::time::Duration;

/// The regular expression (ECMA/RE2 syntax, as the API server's `pattern` uses) of exactly the
/// strings [`parse_duration`] accepts, overflow aside.
pub const DURATION_PATTERN: &str = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$";

/// The largest duration Go can represent: `i64::MAX` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// At most this many fraction digits count (nanosecond precision of an hour needs 13).
const MAX_FRACTION_DIGITS: usize = 18;

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("empty duration")]
    Empty,
    /// A part has no number before its unit, or a fraction without digits.
    #[error("invalid duration {0:?}: expected a number like 1, 1.5 before each unit")]
    InvalidNumber(String),
    /// A number has no unit after it.
    #[error("invalid duration {0:?}: missing unit (ns, us, ms, s, m or h)")]
    MissingUnit(String),
    /// A unit is not one of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("invalid duration {text:?}: unknown unit {unit:?} (ns, us, ms, s, m or h)")]
    UnknownUnit {
        /// The whole input.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// The duration exceeds about 292 years (`i64::MAX` nanoseconds), as in Go.
    #[error("invalid duration {0:?}: too long")]
    Overflow(String),
}

/// Parses a Go-syntax duration: `1m30s`, `3m`, `5s`, `1h`, `250ms`, `1.5h`, `0`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after) = split_digits(rest);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let (fraction, after) = split_digits(after);
                if fraction.is_empty() {
                    return Err(DurationError::InvalidNumber(text.to_owned()));
                }
                (fraction, after)
            }
            None => ("", after),
        };
        if whole.is_empty() {
            return Err(DurationError::InvalidNumber(text.to_owned()));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit = unit_nanos(text, unit)?;
        let part = part_nanos(whole, fraction, nanos_per_unit)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        total = total
            .checked_add(part)
            .filter(|total| *total <= MAX_NANOS)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        rest = after;
    }
    // At most i64::MAX nanoseconds: fits a u64 and therefore a Duration.
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(text.to_owned()))?;
    let nanos = u32::try_from(total % 1_000_000_000)
        .map_err(|_| DurationError::Overflow(text.to_owned()))?;
    Ok(Duration::new(secs, nanos))
}

/// The leading ASCII digits of `text`, and what follows them.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Nanoseconds per `unit`.
fn unit_nanos(text: &str, unit: &str) -> Result<u128, DurationError> {
    Ok(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "" => return Err(DurationError::MissingUnit(text.to_owned())),
        _ => {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            });
        }
    })
}

/// `whole.fraction` units in nanoseconds (the fraction truncated to whole nanoseconds), or
/// `None` past [`MAX_NANOS`].
fn part_nanos(whole: &str, fraction: &str, nanos_per_unit: u128) -> Option<u128> {
    // Leading zeros do not count towards overflow.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 20 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(nanos_per_unit)?;
    let fraction = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
    if !fraction.is_empty() {
        let numerator: u128 = fraction.parse().ok()?;
        let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        nanos = nanos.checked_add(numerator.checked_mul(nanos_per_unit)? / denominator)?;
    }
    (nanos <= MAX_NANOS).then_some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, &str>) {
        let got = parse_duration(text).map_err(|e| e.to_string());
        match expected {
            Ok(duration) => assert_eq!(got, Ok(duration), "{text:?}"),
            Err(fragment) => {
                let message = got.expect_err(text);
                assert!(message.contains(fragment), "{text:?}: {message}");
            }
        }
    }

    #[test]
    fn valid_durations_parse_as_go_parses_them() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let cases = [
            ("0", s(0)),
            ("0s", s(0)),
            ("5s", s(5)),
            ("3m", s(180)),
            ("1h", s(3600)),
            ("250ms", ms(250)),
            ("1m30s", s(90)),
            ("1h2m3s4ms", ms(3_723_004)),
            ("1.5h", s(5400)),
            ("0.5s", ms(500)),
            ("1.25m", s(75)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("7ns", Duration::from_nanos(7)),
            ("1s1s", s(2)),
            ("90m", s(5400)),
            ("007s", s(7)),
            ("0.0000000001s", s(0)),
            ("2562047h", s(2_562_047 * 3600)),
        ];
        for (text, expected) in cases {
            check(text, Ok(expected));
        }
    }

    #[test]
    fn invalid_durations_are_refused_with_the_reason() {
        let cases = [
            ("", "empty duration"),
            ("5", "missing unit"),
            ("1m30", "missing unit"),
            ("s", "expected a number"),
            ("-5s", "expected a number"),
            ("+5s", "expected a number"),
            (".5s", "expected a number"),
            ("1.s", "expected a number"),
            ("1..5s", "expected a number"),
            ("5 s", "unknown unit \" s\""),
            ("5sec", "unknown unit \"sec\""),
            ("1d", "unknown unit \"d\""),
            ("1H", "unknown unit \"H\""),
            ("1μs", "unknown unit"),
            (" 5s", "expected a number"),
            ("2562048h", "too long"),
            ("99999999999999999999999h", "too long"),
            ("9223372036854775807ns1ns", "too long"),
        ];
        for (text, fragment) in cases {
            check(text, Err(fragment));
        }
    }

    #[test]
    fn the_largest_duration_is_go_s() {
        let max = parse_duration("9223372036854775807ns").expect("max");
        assert_eq!(max.as_nanos(), i64::MAX as u128);
    }
}
