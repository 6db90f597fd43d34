//! How kustomize prints a number. The value goes through Go's JSON encoder (a float as its
//! shortest decimal digits, without exponent between 1e-6 and 1e21) and is read back by go-yaml
//! v2: JSON text without a fraction or exponent that fits 64 bits becomes an integer and prints as
//! such (`1.0` prints `1`, `2^63` prints `9223372036854776000`); anything else stays a float and
//! prints in Go's shortest `%g` form (`1e+06` style above 21 digits or below 1e-4).

use serde_json::{Number, Value};

/// The value a float read from YAML has once kustomize has passed it through JSON: the integer
/// it prints as when it prints as one (`1.0` is `1`), else the float. `None` when not finite.
pub(super) fn from_float(float: f64) -> Option<Value> {
    let number = Number::from_f64(float)?;
    let text = format(&number);
    if let Ok(int) = text.parse::<i64>() {
        return Some(Value::from(int));
    }
    if let Ok(int) = text.parse::<u64>() {
        return Some(Value::from(int));
    }
    Some(Value::Number(number))
}

/// The text kustomize prints for `number`.
pub(super) fn format(number: &Number) -> String {
    if let Some(int) = number.as_i64() {
        return int.to_string();
    }
    if let Some(int) = number.as_u64() {
        return int.to_string();
    }
    match number.as_f64() {
        Some(float) => format_float(float),
        None => number.to_string(),
    }
}

fn format_float(float: f64) -> String {
    let (digits, exponent) = shortest_digits(float);
    if float == 0.0 {
        return "0".to_string();
    }
    let negative = float < 0.0;
    // Go's JSON encoder writes integral values below 1e21 as plain digits, which go-yaml v2
    // reads back as an integer when they fit 64 bits.
    let integral = exponent + 1 >= digits.len() as i32;
    if integral && exponent < 21 {
        let mut text = digits.clone();
        text.extend(std::iter::repeat_n(
            '0',
            (exponent + 1) as usize - digits.len(),
        ));
        let fits = if negative {
            format!("-{text}").parse::<i64>().is_ok()
        } else {
            text.parse::<u64>().is_ok()
        };
        if fits {
            return if negative { format!("-{text}") } else { text };
        }
    }
    go_shortest_g(negative, &digits, exponent)
}

/// The shortest digits that read back as `float` and the decimal exponent of the first one
/// (`1234.5` is `("12345", 3)`).
fn shortest_digits(float: f64) -> (String, i32) {
    let scientific = format!("{:e}", float.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: exponent form (with at least two exponent digits)
/// when the decimal exponent is below -4 or at least 6, plain decimals otherwise.
fn go_shortest_g(negative: bool, digits: &str, exponent: i32) -> String {
    let sign = if negative { "-" } else { "" };
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{exp_sign}{:02}", exponent.abs());
    }
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let whole_len = (exponent + 1) as usize;
    if digits.len() <= whole_len {
        let zeros = "0".repeat(whole_len - digits.len());
        return format!("{sign}{digits}{zeros}");
    }
    let (whole, fraction) = digits.split_at(whole_len);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_kubectl_prints_them() {
        // As printed by `kubectl kustomize` (kustomize v5.8.1).
        let cases = [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (123456.5, "123456.5"),
            (1234567.5, "1.2345675e+06"),
            (1e100, "1e+100"),
            (-1.5e-300, "-1.5e-300"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.000001, "1e-06"),
            (18446744073709551616.0, "1.8446744073709552e+19"),
            (9223372036854775808.0, "9223372036854776000"),
            (-0.0, "0"),
            (3.0e5, "300000"),
            (1.0, "1"),
            (1e6, "1000000"),
            (1.2345678912345679e8, "1.2345678912345679e+08"),
            (1.2345678901234569e23, "1.2345678901234569e+23"),
            (-9223372036854775808.0, "-9.223372036854776e+18"),
        ];
        for (float, want) in cases {
            let number = Number::from_f64(float).expect("finite");
            assert_eq!(format(&number), want, "{float:e}");
        }
    }
}
