//! Which remote ref or commit a `targetRevision` names, decided from the remote's ref
//! advertisement alone (pure). Order, as Argo CD users expect: `HEAD` (or empty) is the remote's
//! default branch; `refs/…` is taken literally; a full 40-hex SHA is a commit; then a branch of
//! that name, then a tag, then an abbreviated SHA (4–39 hex digits).

use crate::Error;

/// The refs a remote advertised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advertisement {
    /// `(ref name, object id in hex)`, including `HEAD` and peeled `refs/tags/x^{}` entries.
    pub refs: Vec<(String, String)>,
    /// The branch `HEAD` points at, e.g. `refs/heads/main`, when the server says.
    pub head_target: Option<String>,
}

impl Advertisement {
    fn oid_of(&self, name: &str) -> Option<&str> {
        self.refs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, oid)| oid.as_str())
    }
}

/// What to fetch for a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A ref: fetch it, then use the commit it points at (tags are peeled).
    Ref {
        /// Full ref name, e.g. `refs/heads/main`.
        name: String,
        /// The object id the remote advertised for it (a tag object for annotated tags).
        oid: String,
    },
    /// A commit by full or abbreviated SHA.
    Commit {
        /// Lowercase hex, 4 to 40 digits.
        sha: String,
    },
}

/// The ref prefixes whose refs are enough to decide what `revision` names (for a protocol v2
/// `ls-refs` request): `HEAD` for the default branch or a commit (a commit needs no ref; the
/// listing then only proves access), the ref itself for `refs/…`, else the branch and the tag of
/// that name (an abbreviated SHA matches neither and is looked up as a commit).
pub fn ref_prefixes(revision: &str) -> Vec<String> {
    let revision = revision.trim();
    let is_sha = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if revision.is_empty() || revision == "HEAD" || is_sha {
        vec!["HEAD".to_owned()]
    } else if revision.starts_with("refs/") {
        vec![revision.to_owned()]
    } else {
        vec![
            format!("refs/heads/{revision}"),
            format!("refs/tags/{revision}"),
        ]
    }
}

/// Decides what `revision` names on a remote that advertised `refs`.
pub fn resolve(revision: &str, adv: &Advertisement) -> Result<Wanted, Error> {
    let revision = revision.trim();
    let not_found = || Error::RevisionNotFound {
        revision: revision.to_owned(),
    };
    let as_ref = |name: &str| {
        adv.oid_of(name).map(|oid| Wanted::Ref {
            name: name.to_owned(),
            oid: oid.to_owned(),
        })
    };
    if revision.is_empty() || revision == "HEAD" {
        return match &adv.head_target {
            Some(target) => as_ref(target).ok_or_else(not_found),
            None => as_ref("HEAD").ok_or_else(not_found),
        };
    }
    if revision.starts_with("refs/") {
        return as_ref(revision).ok_or_else(not_found);
    }
    let is_hex = revision.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex && revision.len() == 40 {
        return Ok(Wanted::Commit {
            sha: revision.to_ascii_lowercase(),
        });
    }
    if let Some(branch) = as_ref(&format!("refs/heads/{revision}")) {
        return Ok(branch);
    }
    if let Some(tag) = as_ref(&format!("refs/tags/{revision}")) {
        return Ok(tag);
    }
    if is_hex && (4..40).contains(&revision.len()) {
        return Ok(Wanted::Commit {
            sha: revision.to_ascii_lowercase(),
        });
    }
    Err(not_found())
}

#[cfg(test)]
mod tests {
    use super::{Advertisement, Wanted, resolve};

    fn adv() -> Advertisement {
        let refs = [
            ("HEAD", "1111111111111111111111111111111111111111"),
            (
                "refs/heads/main",
                "1111111111111111111111111111111111111111",
            ),
            (
                "refs/heads/release",
                "2222222222222222222222222222222222222222",
            ),
            (
                "refs/heads/abcd",
                "3333333333333333333333333333333333333333",
            ),
            (
                "refs/tags/v1.0.0",
                "4444444444444444444444444444444444444444",
            ),
            (
                "refs/tags/v1.0.0^{}",
                "2222222222222222222222222222222222222222",
            ),
            (
                "refs/tags/release",
                "5555555555555555555555555555555555555555",
            ),
        ];
        Advertisement {
            refs: refs
                .iter()
                .map(|(n, o)| ((*n).to_owned(), (*o).to_owned()))
                .collect(),
            head_target: Some("refs/heads/main".to_owned()),
        }
    }

    fn wanted_ref(name: &str, oid: char) -> Wanted {
        Wanted::Ref {
            name: name.to_owned(),
            oid: oid.to_string().repeat(40),
        }
    }

    #[test]
    fn revisions_resolve_in_argo_cd_order() {
        let full = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
        let cases: Vec<(&str, Result<Wanted, &str>)> = vec![
            ("HEAD", Ok(wanted_ref("refs/heads/main", '1'))),
            ("", Ok(wanted_ref("refs/heads/main", '1'))),
            ("main", Ok(wanted_ref("refs/heads/main", '1'))),
            ("release", Ok(wanted_ref("refs/heads/release", '2'))), // a branch wins over a tag
            ("v1.0.0", Ok(wanted_ref("refs/tags/v1.0.0", '4'))),
            (
                "refs/tags/release",
                Ok(wanted_ref("refs/tags/release", '5')),
            ),
            ("abcd", Ok(wanted_ref("refs/heads/abcd", '3'))), // a branch wins over a short SHA
            (
                "abcde12",
                Ok(Wanted::Commit {
                    sha: "abcde12".to_owned(),
                }),
            ),
            (
                "ABCDE12",
                Ok(Wanted::Commit {
                    sha: "abcde12".to_owned(),
                }),
            ),
            (
                full,
                Ok(Wanted::Commit {
                    sha: full.to_owned(),
                }),
            ),
            ("nope", Err("revision \"nope\" not found")),
            ("refs/heads/nope", Err("not found")),
            ("abc", Err("not found")), // too short for a SHA
        ];
        for (revision, expected) in cases {
            match (resolve(revision, &adv()), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{revision:?}"),
                (Err(err), Err(text)) => {
                    assert!(err.to_string().contains(text), "{revision:?}: {err}")
                }
                (got, want) => panic!("{revision:?}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn head_without_a_symref_falls_back_to_the_advertised_head() {
        let mut adv = adv();
        adv.head_target = None;
        assert_eq!(resolve("HEAD", &adv).unwrap(), wanted_ref("HEAD", '1'));
        let empty = Advertisement::default();
        assert!(resolve("HEAD", &empty).is_err());
    }
}
