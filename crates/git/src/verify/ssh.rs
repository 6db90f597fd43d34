//! SSH signatures: trusted keys as OpenSSH public key lines, signatures in the `sshsig` format
//! git writes with `gpg.format=ssh` (namespace `git`), checked with the `ssh-key` crate.

use ssh_key::{HashAlg, PublicKey, SshSig};

use super::{Failed, Signer};

/// The first line of an SSH signature.
pub(super) const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// The namespace git signs commits and tags in.
const NAMESPACE: &str = "git";

/// A trusted SSH public key.
#[derive(Debug, Clone)]
pub(super) struct TrustedSshKey {
    key: PublicKey,
}

/// The keys of one Secret entry: one OpenSSH public key per line; blank lines and `#` comments
/// are skipped.
pub(super) fn parse_keys(text: &str) -> Result<Vec<TrustedSshKey>, String> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = PublicKey::from_openssh(line).map_err(|err| {
            format!(
                "line {}: not an SSH public key (`ssh-ed25519 AAAA… comment`) nor an \
                 ASCII-armored OpenPGP public key: {err}",
                number + 1
            )
        })?;
        keys.push(TrustedSshKey { key });
    }
    if keys.is_empty() {
        return Err("holds no key".into());
    }
    Ok(keys)
}

/// Checks the armored `sshsig` `signature` of `content` against the trusted `keys`.
pub(super) fn verify(
    signature: &str,
    content: &[u8],
    keys: &[TrustedSshKey],
) -> Result<Signer, Failed> {
    let sig = SshSig::from_pem(signature.trim())
        .map_err(|err| Failed::Unreadable(format!("unreadable SSH signature: {err}")))?;
    let signer_key = sig.public_key();
    let untrusted = || Signer {
        key: fingerprint(&signer_key.fingerprint(HashAlg::Sha256)),
        name: None,
    };
    let Some(trusted) = keys.iter().find(|k| k.key.key_data() == signer_key) else {
        return Err(Failed::Untrusted(untrusted()));
    };
    let signer = trusted.signer();
    if sig.namespace() != NAMESPACE {
        let why = format!(
            "the SSH signature by {signer} is for namespace {:?}, not {NAMESPACE:?}",
            sig.namespace()
        );
        return Err(Failed::Unreadable(why));
    }
    trusted
        .key
        .verify(NAMESPACE, content, &sig)
        .map_err(|_| Failed::Mismatch(signer.clone()))?;
    Ok(signer)
}

impl TrustedSshKey {
    fn signer(&self) -> Signer {
        let comment = self.key.comment().trim();
        Signer {
            key: fingerprint(&self.key.fingerprint(HashAlg::Sha256)),
            name: (!comment.is_empty()).then(|| comment.to_owned()),
        }
    }
}

fn fingerprint(fingerprint: &ssh_key::Fingerprint) -> String {
    format!("SSH key {fingerprint}")
}
