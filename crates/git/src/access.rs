//! Who may read what from the shared cache — every shared cache is a tenant boundary. A caller is
//! known by its credential identity, a SHA-256 over every connection value it brings (never a
//! Secret's name). A grant records when the remote last accepted an identity for one repository
//! (a ref listing with those credentials); a refused check removes it at once. An [`Access`] is the
//! proof a read needs: it names the repository and identity it was checked for, and expires with
//! the grant it came from.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{Credentials, Error, RepoUrl};

/// Longest time a remote's acceptance of some credentials stands in for asking it again.
pub const MAX_AUTHORIZATION_AGE: Duration = Duration::from_secs(60);

/// A hash of every connection value a caller brings. Its `Debug` shows none of it: even a short
/// prefix of an unsalted hash would let a reader of the logs confirm a guessed weak password.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CredentialId([u8; 32]);

impl CredentialId {
    /// The identity of `creds` used with `url` (whose user name is a connection value too: the
    /// SSH user). Each value is framed by a tag, a presence byte and its length, so no two
    /// different sets of values hash alike by shifting bytes from one field to the next.
    pub(crate) fn of(url: &RepoUrl, creds: &Credentials) -> Self {
        // Destructured so that a new kind of credential cannot be left out of the identity.
        let Credentials {
            basic,
            bearer_token,
            ssh_key,
            ssh_passphrase,
            known_hosts,
            ca_cert,
        } = creds;
        let fields: [(u8, Option<&[u8]>); 8] = [
            (1, url.user().map(str::as_bytes)),
            (2, basic.as_ref().map(|(user, _)| user.as_bytes())),
            (3, basic.as_ref().map(|(_, password)| password.as_bytes())),
            (4, bearer_token.as_deref().map(str::as_bytes)),
            (5, ssh_key.as_deref().map(str::as_bytes)),
            (6, ssh_passphrase.as_deref().map(str::as_bytes)),
            (7, known_hosts.as_deref().map(str::as_bytes)),
            (8, ca_cert.as_deref()),
        ];
        let mut hash = Sha256::new();
        hash.update(b"capstan-git credential identity v1\0");
        for (tag, value) in fields {
            hash.update([tag]);
            match value {
                None => hash.update([0]),
                Some(bytes) => {
                    hash.update([1]);
                    hash.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
                    hash.update(bytes);
                }
            }
        }
        Self(hash.finalize().into())
    }
}

impl std::fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialId(<redacted>)")
    }
}

/// When the remote last accepted each credential identity, for one repository.
#[derive(Debug, Default)]
pub(crate) struct Grants(Mutex<HashMap<CredentialId, Instant>>);

impl Grants {
    /// The remote accepted `identity` in a check that began at `at`. Expired grants are dropped.
    pub(crate) fn grant(&self, identity: CredentialId, at: Instant, bound: Duration) {
        let mut grants = self.lock();
        grants.retain(|_, since| since.elapsed() <= bound);
        let since = grants.entry(identity).or_insert(at);
        *since = (*since).max(at);
    }

    /// The remote refused `identity` (or a check with it failed): nothing is served to it until a
    /// new check succeeds.
    pub(crate) fn revoke(&self, identity: CredentialId) {
        self.lock().remove(&identity);
    }

    /// When the check that still vouches for `identity` began, if it is within `bound`.
    pub(crate) fn valid_since(&self, identity: CredentialId, bound: Duration) -> Option<Instant> {
        self.lock()
            .get(&identity)
            .copied()
            .filter(|since| since.elapsed() <= bound)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CredentialId, Instant>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Proof that the remote accepted a caller's credentials for one repository: what
/// [`RepoCache::tree`](crate::RepoCache::tree) asks for before reading. Only this crate makes
/// one, from a check with those credentials, and it is good for the authorization bound
/// ([`CacheLimits::authorization_max_age`](crate::CacheLimits::authorization_max_age)) after that
/// check, as long as no later check with the same credentials was refused.
#[derive(Clone, PartialEq, Eq)]
pub struct Access {
    repository: String,
    identity: CredentialId,
    checked_at: Instant,
}

impl Access {
    pub(crate) fn new(url: &RepoUrl, identity: CredentialId, checked_at: Instant) -> Self {
        Self {
            repository: url.cache_key(),
            identity,
            checked_at,
        }
    }

    /// The repository it is for, as its cache key (normalized URL without user).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Whether this proof allows reading `url` now: the same repository, younger than `bound`,
    /// and its identity still granted.
    pub(crate) fn check(
        &self,
        url: &RepoUrl,
        grants: &Grants,
        bound: Duration,
    ) -> Result<(), Error> {
        let refuse = |message: String| Error::Unauthorized {
            action: "read",
            url: url.to_string(),
            message,
        };
        if self.repository != url.cache_key() {
            return Err(refuse(format!(
                "the access proof is for another repository ({})",
                self.repository
            )));
        }
        let age = self.checked_at.elapsed();
        if age > bound {
            return Err(refuse(format!(
                "the access proof is {}s old, past the {}s bound; resolve again",
                age.as_secs(),
                bound.as_secs_f32()
            )));
        }
        match grants.valid_since(self.identity, bound) {
            Some(_) => Ok(()),
            None => Err(refuse(
                "the remote no longer vouches for these credentials (a later check failed or the repository left the cache); resolve again".to_owned(),
            )),
        }
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("repository", &self.repository)
            .field("identity", &self.identity)
            .field("age", &self.checked_at.elapsed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{CredentialId, Grants};
    use crate::{Credentials, RepoUrl};

    fn id(url: &str, creds: &Credentials) -> CredentialId {
        CredentialId::of(&RepoUrl::parse(url).unwrap(), creds)
    }

    fn basic(user: &str, password: &str) -> Credentials {
        Credentials {
            basic: Some((user.to_owned(), password.to_owned())),
            ..Credentials::none()
        }
    }

    #[test]
    fn every_connection_value_changes_the_identity() {
        let url = "https://git.example/org/app.git";
        let base = Credentials {
            basic: Some(("alice".to_owned(), "pw".to_owned())),
            bearer_token: Some("token".to_owned()),
            ssh_key: Some("key".to_owned()),
            ssh_passphrase: Some("phrase".to_owned()),
            known_hosts: Some("hosts".to_owned()),
            ca_cert: Some(b"ca".to_vec()),
        };
        let changed = [
            Credentials {
                basic: Some(("bob".to_owned(), "pw".to_owned())),
                ..base.clone()
            },
            Credentials {
                basic: Some(("alice".to_owned(), "pw2".to_owned())),
                ..base.clone()
            },
            Credentials {
                bearer_token: None,
                ..base.clone()
            },
            Credentials {
                ssh_key: Some("key2".to_owned()),
                ..base.clone()
            },
            Credentials {
                ssh_passphrase: None,
                ..base.clone()
            },
            Credentials {
                known_hosts: Some("hosts2".to_owned()),
                ..base.clone()
            },
            Credentials {
                ca_cert: Some(b"ca2".to_vec()),
                ..base.clone()
            },
        ];
        let mut seen = vec![
            id(url, &base),
            id("https://eve@git.example/org/app.git", &base),
        ];
        for creds in &changed {
            seen.push(id(url, creds));
        }
        for (i, a) in seen.iter().enumerate() {
            assert!(!seen[i + 1..].contains(a), "identity {i} repeats: {seen:?}");
        }
        assert_eq!(
            id(url, &base),
            id(url, &base.clone()),
            "the identity is stable"
        );
    }

    #[test]
    fn field_boundaries_and_absent_values_cannot_be_confused() {
        let url = "https://git.example/org/app.git";
        assert_ne!(id(url, &basic("ab", "c")), id(url, &basic("a", "bc")));
        assert_ne!(id(url, &basic("", "")), id(url, &Credentials::none()));
        let token_as_key = Credentials {
            ssh_key: Some("x".to_owned()),
            ..Credentials::none()
        };
        let token = Credentials {
            bearer_token: Some("x".to_owned()),
            ..Credentials::none()
        };
        assert_ne!(id(url, &token_as_key), id(url, &token));
    }

    #[test]
    fn the_identity_debug_output_shows_neither_a_secret_nor_its_hash() {
        let who = id("https://h/r", &basic("alice", "s3cret-pass"));
        let hex: String = who.0.iter().map(|b| format!("{b:02x}")).collect();
        let shown = format!("{who:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(!shown.contains(&hex[..4]), "{shown} shows the hash");
    }

    #[test]
    fn a_grant_expires_after_the_bound_and_a_revocation_is_immediate() {
        let grants = Grants::default();
        let who = id("https://h/r", &basic("alice", "pw"));
        let bound = Duration::from_secs(60);
        assert!(grants.valid_since(who, bound).is_none());
        grants.grant(who, Instant::now(), bound);
        assert!(grants.valid_since(who, bound).is_some());
        std::thread::sleep(Duration::from_millis(2));
        assert!(grants.valid_since(who, Duration::from_millis(1)).is_none());
        grants.revoke(who);
        assert!(grants.valid_since(who, bound).is_none());
    }
}
