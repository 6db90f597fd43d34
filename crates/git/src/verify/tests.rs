//! Reading the trusted-keys Secret, case by case, and the verdicts that need no real signature
//! (signatures made by real tools are checked in `tests/verify.rs`).

use std::collections::BTreeMap;

use super::*;

const ED25519: &str = include_str!("../../testdata/verify/ed25519.pub");
const RSA: &str = include_str!("../../testdata/verify/rsa.pub");
const ECDSA: &str = include_str!("../../testdata/verify/ecdsa.pub");
const OPENPGP: &str = include_str!("../../testdata/verify/openpgp.asc");

/// Reads a Secret of `entries` and checks the number of keys, or that the error says `expected`.
fn check(entries: &[(&str, &[u8])], expected: Result<usize, &str>) {
    let data: BTreeMap<String, Vec<u8>> = entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect();
    let names: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    match (TrustedKeys::from_secret_data(&data), expected) {
        (Ok(keys), Ok(count)) => assert_eq!(keys.len(), count, "{names:?}"),
        (Err(err), Err(words)) => {
            let message = err.to_string();
            assert!(message.contains(words), "{names:?}: {message}");
        }
        (got, want) => panic!("{names:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn a_secret_of_ssh_and_openpgp_keys_is_read_one_key_per_line_or_block() {
    let several = format!("# the release team\n{ED25519}\n\n{RSA}{ECDSA}");
    let both = format!("{OPENPGP}\n{OPENPGP}");
    check(&[("alice.pub", ED25519.as_bytes())], Ok(1));
    check(&[("team", several.as_bytes())], Ok(3));
    check(&[("release.asc", OPENPGP.as_bytes())], Ok(1));
    check(&[("twice.asc", both.as_bytes())], Ok(2));
    check(
        &[
            ("alice.pub", ED25519.as_bytes()),
            ("release.asc", OPENPGP.as_bytes()),
        ],
        Ok(2),
    );
}

#[test]
fn an_entry_that_is_no_key_is_refused_naming_the_entry_and_line() {
    let broken_armor = OPENPGP.replace("m", "M");
    let truncated = &ED25519[..40];
    let second_line_bad = format!("{ED25519}not-a-key AAAA\n");
    check(&[("empty", b"")], Err("entry \"empty\": holds no key"));
    check(&[("comments", b"# nothing\n\n")], Err("entry \"comments\""));
    check(
        &[("binary", &[0xff, 0xfe, 0x00])],
        Err("entry \"binary\": not UTF-8 text"),
    );
    check(
        &[("bob.pub", truncated.as_bytes())],
        Err("entry \"bob.pub\": line 1: not an SSH public key"),
    );
    check(
        &[("team", second_line_bad.as_bytes())],
        Err("entry \"team\": line 2"),
    );
    check(
        &[("release.asc", broken_armor.as_bytes())],
        Err("entry \"release.asc\": unreadable OpenPGP public key"),
    );
    // One bad entry spoils the Secret, whatever the others hold.
    check(
        &[("alice.pub", ED25519.as_bytes()), ("zz", b"garbage")],
        Err("entry \"zz\""),
    );
    check(&[], Err("holds no trusted keys"));
}

fn keys() -> TrustedKeys {
    let data = BTreeMap::from([
        ("alice.pub".to_owned(), ED25519.as_bytes().to_vec()),
        ("release.asc".to_owned(), OPENPGP.as_bytes().to_vec()),
    ]);
    TrustedKeys::from_secret_data(&data).expect("keys")
}

#[test]
fn an_unsigned_commit_is_refused_naming_it() {
    let commit = Signed::Commit("1a2b".repeat(10));
    let refusal = verify_signature(&commit, None, &keys()).expect_err("unsigned");
    assert_eq!(
        refusal.to_string(),
        format!("commit {} is not signed", "1a2b".repeat(10))
    );
    assert_eq!(refusal.object(), &commit);
}

#[test]
fn a_signature_that_is_neither_ssh_nor_openpgp_is_refused_as_unverifiable() {
    let tag = Signed::Tag {
        name: "v1".into(),
        sha: "c0ffee".into(),
    };
    for (signature, words) in [
        (&b"-----BEGIN SIGNED MESSAGE-----\nx\n"[..], "X.509"),
        (b"\xff\xfe", "not ASCII-armored"),
        (
            b"-----BEGIN SSH SIGNATURE-----\nbm90IGEgc2lnbmF0dXJl\n-----END SSH SIGNATURE-----\n",
            "unreadable SSH signature",
        ),
        (
            b"-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n",
            "unreadable OpenPGP signature",
        ),
    ] {
        let refusal = verify_signature(&tag, Some((signature, b"content")), &keys())
            .expect_err("unverifiable");
        let message = refusal.to_string();
        assert!(
            message.starts_with("tag v1 (c0ffee) has a signature that cannot be verified")
                && message.contains(words),
            "{message}"
        );
    }
}

#[test]
fn a_tag_signature_is_split_from_the_message_at_the_last_signature_line() {
    let head = "object 1a2b\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\nrelease\n";
    let quoted = format!("{head}-----BEGIN PGP SIGNATURE-----\nquoted, not the end\n");
    let ssh = "-----BEGIN SSH SIGNATURE-----\nAAA\n-----END SSH SIGNATURE-----\n";
    let pgp = "-----BEGIN PGP SIGNATURE-----\n\nAAA\n-----END PGP SIGNATURE-----\n";
    for (content, signature) in [(head, ssh), (head, pgp), (&quoted, ssh), (&quoted, pgp)] {
        let raw = format!("{content}{signature}");
        let split = split_tag_signature(raw.as_bytes());
        assert_eq!(
            split,
            Some((signature.as_bytes(), content.as_bytes())),
            "{raw}"
        );
    }
    assert_eq!(split_tag_signature(head.as_bytes()), None);
}
