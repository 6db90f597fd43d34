//! The ownership label `capstan.dev/app`: a stable hash of the application id on every live
//! object an application applies, so its objects can be listed and watched with a label selector.
//! It only narrows what is read; the tracking-id annotation stays the authority on ownership, so
//! a copied or colliding label never makes an object prunable.

use sha2::{Digest, Sha256};

/// Label on managed objects naming the Application that applied them, by
/// [`app_label_value`] of its id (`<namespace>/<name>` does not fit a label value: `/` is not
/// allowed and names may be longer than 63 characters).
pub const APP_LABEL: &str = "capstan.dev/app";

/// How many bytes of the SHA-256 digest the label value keeps (as twice as many hex digits).
///
/// 16 bytes, 32 hex digits: 128 bits, so among a million applications the chance that any two
/// share a value is about 10¹² / 2¹²⁹ ≈ 10⁻²⁷ (birthday bound) — never, in practice, and a
/// collision would only make one application's selector read the other's objects, which the
/// tracking-id check then ignores. The value stays well inside a label's 63 characters.
const DIGEST_BYTES: usize = 16;

/// The value of [`APP_LABEL`] for the application with id `app_id` (`<namespace>/<name>`): the
/// first 32 lowercase hex digits of the SHA-256 of the id's UTF-8 bytes, i.e.
/// `printf %s "$ID" | sha256sum | cut -c1-32`. Stable across releases and platforms (a golden
/// test pins it); always a valid label value (hex digits only, alphanumeric at both ends).
pub fn app_label_value(app_id: &str) -> String {
    let digest = Sha256::digest(app_id.as_bytes());
    digest[..DIGEST_BYTES]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values: changing them orphans every labelled object of every installation.
    #[test]
    fn app_label_values_are_pinned() {
        let cases = [
            ("default/guestbook", "201eb0b5329cbe41edab0b7fde2d01d6"),
            ("prod/web", "01c91e8cc384507d233d963a6d5d6368"),
            ("a/b", "c14cddc033f64b9dea80ea675cf280a0"),
        ];
        for (id, expected) in cases {
            assert_eq!(app_label_value(id), expected, "{id}");
        }
        assert_eq!(APP_LABEL, "capstan.dev/app");
    }

    #[test]
    fn app_label_values_are_valid_label_values() {
        let long = format!("{}/{}", "n".repeat(63), "a".repeat(253));
        for id in ["default/guestbook", "x/y", long.as_str(), "ns/ünïcode"] {
            let value = app_label_value(id);
            assert_eq!(value.len(), 32);
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        assert_ne!(app_label_value("a/bc"), app_label_value("ab/c"));
    }
}
