//! Verified commits (pure): whether a commit or an annotated tag is signed by a key the user
//! trusts. The trusted keys come from a Secret's data entries ([`TrustedKeys::from_secret_data`]),
//! each an SSH public key line (`ssh-ed25519 AAAA… comment`, one or more lines) or an
//! ASCII-armored OpenPGP public key block. A signature is checked in process — SSH signatures in
//! the `sshsig` format `git commit -S` writes with `gpg.format=ssh` (namespace `git`), OpenPGP
//! detached signatures as GnuPG writes them — and never by running `gpg` or `ssh-keygen`.
//!
//! The verdict names the object (`commit 1a2b3c…`, `tag v1.2 (…)`) and the signer (an SSH key's
//! SHA-256 fingerprint and comment, an OpenPGP key's fingerprint and user id); it never carries
//! key material beyond public fingerprints.
//!
//! Expected flow: resolve a revision → [`crate::RepoCache::verify`] (`read.rs`, the only I/O
//! here: it reads the signed object's raw bytes and calls [`verify_signature`]) → only then read
//! the commit's tree.

mod openpgp;
mod read;
mod ssh;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

/// What was signed: a commit, or an annotated tag pointing at one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// A commit, by its full SHA.
    Commit(String),
    /// An annotated tag, by its name and the SHA of the tag object.
    Tag {
        /// The tag's name, e.g. `v1.2`.
        name: String,
        /// The tag object's SHA.
        sha: String,
    },
}

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signed::Commit(sha) => write!(f, "commit {sha}"),
            Signed::Tag { name, sha } => write!(f, "tag {name} ({sha})"),
        }
    }
}

/// Who signed: a trusted key, or — in a refusal — the key the signature names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// `SSH key SHA256:…` or `OpenPGP key <fingerprint>` (a key id when the signature names
    /// no fingerprint).
    pub key: String,
    /// The SSH key's comment, or the OpenPGP key's first user id, when the key is trusted and
    /// has one.
    pub name: Option<String>,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} ({name})", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// Why a commit or tag is not deployed. Each message names the object and, when the signature
/// names one, the signer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The object carries no signature.
    #[error("{object} is not signed")]
    Unsigned {
        /// The object.
        object: Signed,
    },
    /// The signature is by a key that is not among the trusted keys.
    #[error("{object} is signed by {signer}, which is not trusted")]
    Untrusted {
        /// The object.
        object: Signed,
        /// The key the signature names.
        signer: Signer,
    },
    /// The signature names a trusted key but does not match the signed content: the object was
    /// altered after signing, or the signature was made for something else.
    #[error("{object}: the signature by {signer} does not match its content")]
    Mismatch {
        /// The object.
        object: Signed,
        /// The trusted key the signature names.
        signer: Signer,
    },
    /// The signature cannot be read, or is of a kind that is not supported.
    #[error("{object} has a signature that cannot be verified: {reason}")]
    Malformed {
        /// The object.
        object: Signed,
        /// Why.
        reason: String,
    },
}

impl Refusal {
    /// The object refused.
    pub fn object(&self) -> &Signed {
        match self {
            Refusal::Unsigned { object }
            | Refusal::Untrusted { object, .. }
            | Refusal::Mismatch { object, .. }
            | Refusal::Malformed { object, .. } => object,
        }
    }
}

/// An entry of the trusted-keys Secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The entry holds no key, or one that cannot be read.
    #[error("entry {entry:?}: {reason}")]
    Entry {
        /// The Secret's data key.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The Secret holds no key at all.
    #[error("holds no trusted keys")]
    Empty,
}

/// The keys whose signatures are trusted: SSH public keys and OpenPGP public keys (with their
/// signing subkeys). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    ssh: Arc<[ssh::TrustedSshKey]>,
    openpgp: Arc<[openpgp::TrustedPgpKey]>,
}

impl TrustedKeys {
    /// The keys of a Secret's `data`: every entry is either one or more SSH public key lines
    /// (blank lines and `#` comments allowed) or one or more ASCII-armored OpenPGP public key
    /// blocks. An entry that cannot be read is an error naming it; a Secret without keys too.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, KeysError> {
        let (mut ssh, mut openpgp) = (Vec::new(), Vec::new());
        for (entry, value) in data {
            let invalid = |reason: String| KeysError::Entry {
                entry: entry.clone(),
                reason,
            };
            let text = std::str::from_utf8(value).map_err(|_| invalid("not UTF-8 text".into()))?;
            if text.contains(openpgp::ARMOR_BEGIN) {
                openpgp.extend(openpgp::parse_keys(text).map_err(invalid)?);
            } else {
                ssh.extend(ssh::parse_keys(text).map_err(invalid)?);
            }
        }
        let keys = TrustedKeys {
            ssh: ssh.into(),
            openpgp: openpgp.into(),
        };
        if keys.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(keys)
    }

    /// How many keys are trusted (SSH keys and OpenPGP primary keys).
    pub fn len(&self) -> usize {
        self.ssh.len() + self.openpgp.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decides whether `object` is signed by one of `keys`. `signed` is the object's signature and
/// the exact bytes it signs (for a commit: the object without its `gpgsig` header; for a tag:
/// the object up to its signature), or `None` when it carries no signature.
pub fn verify_signature(
    object: &Signed,
    signed: Option<(&[u8], &[u8])>,
    keys: &TrustedKeys,
) -> Result<Signer, Refusal> {
    let Some((signature, content)) = signed else {
        return Err(Refusal::Unsigned {
            object: object.clone(),
        });
    };
    let malformed = |reason: String| Refusal::Malformed {
        object: object.clone(),
        reason,
    };
    let text = std::str::from_utf8(signature)
        .map_err(|_| malformed("the signature is not ASCII-armored text".into()))?;
    let verdict = if text.trim_start().starts_with(ssh::ARMOR_BEGIN) {
        ssh::verify(text, content, &keys.ssh)
    } else if text.trim_start().starts_with(openpgp::SIGNATURE_BEGIN) {
        openpgp::verify(text, content, &keys.openpgp)
    } else {
        return Err(malformed(
            "neither an SSH nor an OpenPGP signature (X.509 signatures are not supported)".into(),
        ));
    };
    verdict.map_err(|failed| match failed {
        Failed::Unreadable(reason) => malformed(reason),
        Failed::Untrusted(signer) => Refusal::Untrusted {
            object: object.clone(),
            signer,
        },
        Failed::Mismatch(signer) => Refusal::Mismatch {
            object: object.clone(),
            signer,
        },
    })
}

/// Splits an annotated tag object's raw bytes into (signature, signed content): git appends the
/// signature — SSH or OpenPGP alike — to the tag message, and signs everything before it.
/// `None` when the tag carries no signature.
pub fn split_tag_signature(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let begins = [ssh::ARMOR_BEGIN, openpgp::SIGNATURE_BEGIN];
    let mut at = 0;
    let mut found = None;
    // The last line that begins a signature block starts the signature: a message may quote one.
    for line in raw.split_inclusive(|b| *b == b'\n') {
        if begins.iter().any(|b| line.starts_with(b.as_bytes())) {
            found = Some(at);
        }
        at += line.len();
    }
    found.map(|start| (&raw[start..], &raw[..start]))
}

/// How a signature failed, before it is tied to its object.
#[derive(Debug)]
enum Failed {
    /// The signature cannot be read.
    Unreadable(String),
    /// Signed by a key that is not trusted.
    Untrusted(Signer),
    /// Signed by a trusted key, but not over this content.
    Mismatch(Signer),
}
