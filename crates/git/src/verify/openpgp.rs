//! OpenPGP signatures: trusted keys as ASCII-armored public key blocks (as `gpg --armor --export`
//! writes them), signatures as the detached signatures GnuPG makes for `git commit -S`, checked
//! with rPGP. A signature may be made by the primary key or by a signing subkey bound to it; a
//! key whose self-signatures do not verify is refused when the Secret is read, a revoked key (or
//! subkey) is never trusted, and a signature over a SHA-1 (or weaker) digest is refused.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::SignatureType;
use pgp::types::KeyDetails;

use super::{Failed, Signer};

/// The first line of an armored OpenPGP public key.
pub(super) const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// The first line of an armored OpenPGP signature.
pub(super) const SIGNATURE_BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";

/// A trusted OpenPGP key.
#[derive(Debug, Clone)]
pub(super) struct TrustedPgpKey {
    key: SignedPublicKey,
    revoked: bool,
}

/// The keys of one Secret entry: one or more armored public key blocks.
pub(super) fn parse_keys(text: &str) -> Result<Vec<TrustedPgpKey>, String> {
    let unreadable = |err: pgp::errors::Error| format!("unreadable OpenPGP public key: {err}");
    let mut parsed = Vec::new();
    // Each armored block is read on its own: the armor reader stops at the end of the first.
    for (at, _) in text.match_indices(ARMOR_BEGIN) {
        let block = &text[at..];
        let end = block[ARMOR_BEGIN.len()..]
            .find(ARMOR_BEGIN)
            .map_or(block.len(), |next| next + ARMOR_BEGIN.len());
        let (keys, _) = SignedPublicKey::from_string_many(&block[..end]).map_err(unreadable)?;
        parsed.extend(keys);
    }
    let mut keys = Vec::new();
    for key in parsed {
        let key = key.map_err(unreadable)?;
        key.verify_bindings().map_err(|err| {
            format!(
                "OpenPGP key {}: its self-signatures do not verify: {err}",
                hex(key.fingerprint().as_bytes())
            )
        })?;
        let revoked = !key.details.revocation_signatures.is_empty();
        keys.push(TrustedPgpKey { key, revoked });
    }
    if keys.is_empty() {
        return Err("holds no OpenPGP public key".into());
    }
    Ok(keys)
}

/// Checks the armored detached `signature` of `content` against the trusted `keys`.
pub(super) fn verify(
    signature: &str,
    content: &[u8],
    keys: &[TrustedPgpKey],
) -> Result<Signer, Failed> {
    let (sig, _) = DetachedSignature::from_string(signature)
        .map_err(|err| Failed::Unreadable(format!("unreadable OpenPGP signature: {err}")))?;
    let typ = sig.signature.typ();
    if !matches!(typ, Some(SignatureType::Binary | SignatureType::Text)) {
        let why = format!("an OpenPGP signature of type {typ:?}, not a signature of data");
        return Err(Failed::Unreadable(why));
    }
    // SHA-1 and older digests admit forged collisions (a signature moved to other content).
    match sig.signature.hash_alg() {
        Some(
            HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha224
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512,
        ) => {}
        weak => {
            let name = weak.map_or_else(|| "unknown".to_owned(), |h| h.to_string());
            let why =
                format!("the OpenPGP signature uses the digest {name}, which is not accepted");
            return Err(Failed::Unreadable(why));
        }
    }
    let issuer = issuer(&sig);
    let Some((trusted, signing)) = keys.iter().find_map(|k| {
        let signing = k.signing_key(&sig)?;
        Some((k, signing))
    }) else {
        return Err(Failed::Untrusted(Signer {
            key: issuer,
            name: None,
        }));
    };
    let mut signer = trusted.signer();
    if trusted.revoked || signing.revoked() {
        signer.name = Some(match signer.name {
            Some(name) => format!("{name}, revoked"),
            None => "revoked".to_owned(),
        });
        return Err(Failed::Untrusted(signer));
    }
    let verified = match signing {
        Signing::Primary => sig.verify(&trusted.key, content),
        Signing::Subkey(subkey) => sig.verify(subkey, content),
    };
    verified.map_err(|_| Failed::Mismatch(signer.clone()))?;
    Ok(signer)
}

/// Which key of a trusted key made a signature.
enum Signing<'a> {
    Primary,
    Subkey(&'a SignedPublicSubKey),
}

impl Signing<'_> {
    fn revoked(&self) -> bool {
        match self {
            Signing::Primary => false,
            Signing::Subkey(subkey) => subkey
                .signatures
                .iter()
                .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation)),
        }
    }
}

impl TrustedPgpKey {
    /// The primary key or signing subkey the signature names as its issuer.
    fn signing_key(&self, sig: &DetachedSignature) -> Option<Signing<'_>> {
        if names(sig, &self.key) {
            return Some(Signing::Primary);
        }
        self.key
            .public_subkeys
            .iter()
            .filter(|s| s.signatures.iter().any(|b| b.key_flags().sign()))
            .find(|s| names(sig, *s))
            .map(Signing::Subkey)
    }

    fn signer(&self) -> Signer {
        let name = self
            .key
            .details
            .users
            .first()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned());
        Signer {
            key: format!("OpenPGP key {}", hex(self.key.fingerprint().as_bytes())),
            name,
        }
    }
}

/// Whether `sig` names `key` as its issuer, by fingerprint or key id.
fn names(sig: &DetachedSignature, key: &impl KeyDetails) -> bool {
    let sig = &sig.signature;
    sig.issuer_fingerprint()
        .iter()
        .any(|fp| **fp == key.fingerprint())
        || sig
            .issuer_key_id()
            .iter()
            .any(|id| **id == key.legacy_key_id())
}

/// The issuer a signature names: its fingerprint, else its key id.
fn issuer(sig: &DetachedSignature) -> String {
    let sig = &sig.signature;
    if let Some(fp) = sig.issuer_fingerprint().first() {
        return format!("OpenPGP key {}", hex(fp.as_bytes()));
    }
    match sig.issuer_key_id().first() {
        Some(id) => format!("OpenPGP key id {}", hex(id.as_ref())),
        None => "an OpenPGP key it does not name".to_owned(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
