//! The order go-yaml v2 prints mapping keys in: not byte order but a "natural" one. Keys are
//! compared from their first differing character: two letters compare as characters; a letter
//! comes after anything else; otherwise runs of digits compare by value (a run continuing
//! non-zero digits before the difference counts them too), then the shorter run first, then the
//! characters. A key that is a prefix of another comes first.
//!
//! That comparison is not a total order (`-280` < `-2A` < `-7` < `-280`); for such keys kustomize's
//! own output changes from run to run (Go's map iteration order feeds its sort), so no order can
//! match it. [`sort`] is a merge sort that gives the consistent order whenever there is one and
//! never panics when there is none.

use std::cmp::Ordering;

/// Compares two mapping keys as go-yaml v2 orders them.
fn compare(a: &str, b: &str) -> Ordering {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let Some(at) = a.iter().zip(&b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    let (x, y) = (a[at], b[at]);
    match (x.is_alphabetic(), y.is_alphabetic()) {
        (true, true) => return x.cmp(&y),
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let carried = (x == '0' || y == '0') && continues_a_number(&a[..at]);
    let (a_value, a_end) = digit_run(&a, at, carried);
    let (b_value, b_end) = digit_run(&b, at, carried);
    a_value
        .cmp(&b_value)
        .then(a_end.cmp(&b_end))
        .then(x.cmp(&y))
}

/// Sorts mapping keys as go-yaml v2 orders them (stable merge sort).
pub(super) fn sort(keys: &mut Vec<&str>) {
    if keys.len() < 2 {
        return;
    }
    let middle = keys.len() / 2;
    let mut right = keys.split_off(middle);
    sort(keys);
    sort(&mut right);
    let left = std::mem::take(keys);
    keys.reserve(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let next = if compare(r, l) == Ordering::Less {
            right.next()
        } else {
            left.next()
        };
        keys.extend(next);
    }
    keys.extend(left);
    keys.extend(right);
}

/// Whether the digits just before the difference include a non-zero one.
fn continues_a_number(before: &[char]) -> bool {
    before
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .any(|&c| c != '0')
}

/// The value of the digit run starting at `from` (prefixed by a 1 when `carried`), and where it
/// ends.
fn digit_run(chars: &[char], from: usize, carried: bool) -> (u128, usize) {
    let mut value = u128::from(carried);
    let mut end = from;
    while let Some(digit) = chars.get(end).and_then(|c| c.to_digit(10)) {
        value = value.saturating_mul(10).saturating_add(u128::from(digit));
        end += 1;
    }
    (value, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_the_order_kubectl_prints_them() {
        // As printed by `kubectl kustomize` (kustomize v5.8.1); a set without order cycles.
        let printed = [
            "", "-", "1", "Ab", "a", "a-b", "a.b", "a_b", "a0", "a00", "a1", "a01", "a001", "a9",
            "a10", "aB", "ab", "b 2", "b2", "x1y2", "x1y10", "x01", "x010", "z", "é",
        ];
        let mut keys = printed.to_vec();
        keys.reverse();
        sort(&mut keys);
        assert_eq!(keys, printed);
    }

    #[test]
    fn keys_without_a_consistent_order_still_sort_without_panicking() {
        let mut keys: Vec<&str> = ["-280", "-2A", "-7"].repeat(20);
        sort(&mut keys);
        assert_eq!(keys.len(), 60);
    }
}
