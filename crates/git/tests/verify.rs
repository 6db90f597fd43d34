//! Verified commits against commits and tags made with the real tools: keys from `ssh-keygen` and
//! GnuPG, signatures from `git commit -S` and `git tag -s`, pushed to the HTTP test server and
//! fetched through the cache. Signed commits (also by an OpenPGP signing subkey) and signed tags
//! verify with the right key; unsigned, untrusted, revoked, tampered and SHA-1 signed ones are
//! refused, naming the commit and the signer.

mod common;

use std::collections::BTreeMap;

use anyhow::ensure;
use capstan_git::verify::Signed;
use capstan_git::{Error, Refusal, RepoCache, TrustedKeys};
use capstan_testenv::{GitServers, Signers, SigningKey, WorkClone, run_git};
use common::{cache, http_creds, repo_name};

/// A repository on the HTTP server, a work clone of it, and a cache reading it.
struct Fixture {
    servers: &'static GitServers,
    name: String,
    work: WorkClone,
    cache: RepoCache,
}

async fn fixture(signers: &Signers, prefix: &str) -> anyhow::Result<Fixture> {
    let servers = GitServers::shared().await?;
    let name = repo_name(prefix);
    let repo = servers.create_repo(&name)?;
    let work = signers.clone_of(&repo)?;
    let cache = cache(servers, prefix);
    Ok(Fixture {
        servers,
        name,
        work,
        cache,
    })
}

impl Fixture {
    /// Resolves `revision` and verifies it against `trusted`.
    async fn verify(
        &self,
        revision: &str,
        trusted: &[&SigningKey],
    ) -> anyhow::Result<Result<capstan_git::Signer, Error>> {
        let url = self.servers.http_url(&self.name);
        let resolved = self
            .cache
            .resolve(&url, &http_creds(self.servers), revision)
            .await?;
        Ok(self.cache.verify(&url, &resolved, &keys(trusted)?).await)
    }
}

/// A trusted-keys Secret's data with one entry per key.
fn keys(trusted: &[&SigningKey]) -> anyhow::Result<TrustedKeys> {
    let data: BTreeMap<String, Vec<u8>> = trusted
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("key-{i}"), k.public().as_bytes().to_vec()))
        .collect();
    Ok(TrustedKeys::from_secret_data(&data)?)
}

/// The refusal inside a verification error.
fn refusal(result: Result<capstan_git::Signer, Error>) -> anyhow::Result<Refusal> {
    match result {
        Err(Error::Unverified(refusal)) => Ok(refusal),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn commits_signed_with_ssh_and_openpgp_keys_verify_with_the_right_trusted_key()
-> anyhow::Result<()> {
    let signers = Signers::new()?;
    let ssh = signers.ssh_key("alice@example.test")?;
    let pgp = signers.openpgp_key("Release Bot <release@example.test>")?;
    let f = fixture(&signers, "signed").await?;

    f.work
        .commit(&[("a.yaml", "v: 1\n")], "by ssh", Some(&ssh))?;
    let signer = f.verify("main", &[&pgp, &ssh]).await??;
    ensure!(
        signer.key == format!("SSH key {}", ssh.fingerprint())
            && signer.name.as_deref() == Some("alice@example.test"),
        "{signer:?}"
    );

    f.work
        .commit(&[("a.yaml", "v: 2\n")], "by gpg", Some(&pgp))?;
    let signer = f.verify("main", &[&ssh, &pgp]).await??;
    ensure!(
        signer.key == format!("OpenPGP key {}", pgp.fingerprint())
            && signer.name.as_deref() == Some("Release Bot <release@example.test>"),
        "{signer:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_commit_signed_by_an_openpgp_signing_subkey_verifies_as_its_primary_key()
-> anyhow::Result<()> {
    let signers = Signers::new()?;
    let primary_only = signers.openpgp_key("Release Bot <release@example.test>")?;
    let with_subkey = signers.add_signing_subkey(&primary_only)?;
    let f = fixture(&signers, "subkey").await?;
    f.work
        .commit(&[("a.yaml", "v: 1\n")], "by the subkey", Some(&with_subkey))?;

    // GnuPG signed with the subkey: the key exported before it existed does not vouch for it.
    let message = refusal(f.verify("main", &[&primary_only]).await?)?.to_string();
    ensure!(
        message.contains("is signed by OpenPGP key ")
            && !message.contains(primary_only.fingerprint()),
        "{message}"
    );
    let signer = f.verify("main", &[&with_subkey]).await??;
    ensure!(
        signer.key == format!("OpenPGP key {}", with_subkey.fingerprint()),
        "{signer:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_commit_signed_by_a_revoked_openpgp_key_is_refused_as_not_trusted() -> anyhow::Result<()>
{
    let signers = Signers::new()?;
    let pgp = signers.openpgp_key("Alice <alice@example.test>")?;
    let f = fixture(&signers, "revoked").await?;
    let sha = f
        .work
        .commit(&[("a.yaml", "v: 1\n")], "before", Some(&pgp))?;
    ensure!(f.verify("main", &[&pgp]).await?.is_ok());

    let revoked = signers.revoke(&pgp)?;
    let message = refusal(f.verify("main", &[&revoked]).await?)?.to_string();
    ensure!(
        message
            == format!(
                "commit {sha} is signed by OpenPGP key {} (Alice <alice@example.test>, revoked), \
                 which is not trusted",
                pgp.fingerprint()
            ),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn an_openpgp_signature_over_a_sha1_digest_is_refused() -> anyhow::Result<()> {
    let signers = Signers::new()?;
    let pgp = signers.openpgp_key("Alice <alice@example.test>")?;
    let f = fixture(&signers, "sha1").await?;
    // GnuPG as git runs it, told to hash with SHA-1.
    let program = signers.dir().join("gpg-sha1");
    std::fs::write(&program, "#!/bin/sh\nexec gpg --digest-algo SHA1 \"$@\"\n")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    let sha1 = format!("gpg.program={}", program.display());
    f.work.commit(&[("a.yaml", "v: 1\n")], "ready", None)?;
    f.work.git(
        Some(&pgp),
        &[
            "-c",
            &sha1,
            "commit",
            "--quiet",
            "-S",
            "--allow-empty",
            "-m",
            "by sha1",
        ],
    )?;
    f.work
        .git(None, &["push", "--quiet", "origin", "HEAD:main"])?;
    let sha = f.work.git(None, &["rev-parse", "HEAD"])?;

    let message = refusal(f.verify("main", &[&pgp]).await?)?.to_string();
    ensure!(
        message
            == format!(
                "commit {sha} has a signature that cannot be verified: the OpenPGP signature \
                 uses the digest SHA1, which is not accepted"
            ),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unsigned_commit_is_refused_naming_it() -> anyhow::Result<()> {
    let signers = Signers::new()?;
    let ssh = signers.ssh_key("alice@example.test")?;
    let f = fixture(&signers, "unsigned").await?;
    let sha = f.work.commit(&[("a.yaml", "v: 1\n")], "unsigned", None)?;

    let refusal = refusal(f.verify("main", &[&ssh]).await?)?;
    ensure!(
        refusal
            == Refusal::Unsigned {
                object: Signed::Commit(sha.clone())
            },
        "{refusal:?}"
    );
    ensure!(refusal.to_string() == format!("commit {sha} is not signed"));
    Ok(())
}

#[tokio::test]
async fn a_commit_signed_by_a_key_that_is_not_trusted_is_refused_naming_the_signer()
-> anyhow::Result<()> {
    let signers = Signers::new()?;
    let (trusted, stranger) = (signers.ssh_key("alice")?, signers.ssh_key("mallory")?);
    let (pgp_trusted, pgp_stranger) = (
        signers.openpgp_key("Alice <alice@example.test>")?,
        signers.openpgp_key("Mallory <mallory@example.test>")?,
    );
    let f = fixture(&signers, "untrusted").await?;

    for (signer, trusted) in [(&stranger, &trusted), (&pgp_stranger, &pgp_trusted)] {
        let sha = f
            .work
            .commit(&[("a.yaml", signer.fingerprint())], "x", Some(signer))?;
        let message = refusal(f.verify("main", &[trusted]).await?)?.to_string();
        ensure!(
            message.starts_with(&format!("commit {sha} is signed by "))
                && message.contains(signer.fingerprint())
                && message.ends_with("which is not trusted")
                && !message.contains(trusted.fingerprint()),
            "{message}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_commit_altered_after_signing_is_refused_as_not_matching_its_signature()
-> anyhow::Result<()> {
    let signers = Signers::new()?;
    let ssh = signers.ssh_key("alice@example.test")?;
    let pgp = signers.openpgp_key("Alice <alice@example.test>")?;
    let f = fixture(&signers, "tampered").await?;
    let bare = f.servers.repos_dir().join(&f.name);
    let git_dir = format!("--git-dir={}", bare.display());

    for key in [&ssh, &pgp] {
        let text = format!("replicas: 1 # {}\n", key.fingerprint());
        let signed = f
            .work
            .commit(&[("a.yaml", &text)], "one replica", Some(key))?;
        // The same object with another subject, its gpgsig header kept, written straight into
        // the server's repository and made the branch's head.
        let raw = run_git(&bare, &[&git_dir, "cat-file", "commit", &signed])?;
        ensure!(raw.contains("gpgsig "), "not signed: {raw}");
        let altered = format!("{}\n", raw.replace("one replica", "ten replicas"));
        let forged = hash_commit(&bare, &altered)?;
        run_git(&bare, &[&git_dir, "update-ref", "refs/heads/main", &forged])?;

        let message = refusal(f.verify("main", &[key]).await?)?.to_string();
        ensure!(
            message.starts_with(&format!("commit {forged}: the signature by "))
                && message.contains(key.fingerprint())
                && message.ends_with("does not match its content"),
            "{message}"
        );
        run_git(&bare, &[&git_dir, "update-ref", "refs/heads/main", &signed])?;
        f.work.git(None, &["reset", "--quiet", "--hard", &signed])?;
    }
    Ok(())
}

/// Writes `text` as a commit object into `bare` (`git hash-object -t commit -w`).
fn hash_commit(bare: &std::path::Path, text: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .arg(format!("--git-dir={}", bare.display()))
        .args(["hash-object", "-t", "commit", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(text.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "git hash-object failed");
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

#[tokio::test]
async fn a_signed_tag_is_verified_instead_of_its_commit_and_an_unsigned_tag_is_refused()
-> anyhow::Result<()> {
    let signers = Signers::new()?;
    let ssh = signers.ssh_key("alice@example.test")?;
    let pgp = signers.openpgp_key("Alice <alice@example.test>")?;
    let f = fixture(&signers, "tags").await?;
    // An unsigned commit, released by signed tags: the tag's signature is what counts.
    f.work.commit(&[("a.yaml", "v: 1\n")], "unsigned", None)?;

    for (name, key) in [("v1-ssh", &ssh), ("v1-pgp", &pgp)] {
        f.work.tag(name, Some(key))?;
        let signer = f.verify(name, &[key]).await??;
        ensure!(
            signer.key.ends_with(key.fingerprint()),
            "{name}: {signer:?}"
        );
        let message = refusal(f.verify(name, &[&signers.ssh_key("other")?]).await?)?.to_string();
        ensure!(
            message.starts_with(&format!("tag {name} (")) && message.contains(key.fingerprint()),
            "{message}"
        );
    }

    let tag = f.work.tag("v1-unsigned", None)?;
    let refusal = refusal(f.verify("v1-unsigned", &[&ssh, &pgp]).await?)?;
    ensure!(
        refusal.to_string() == format!("tag v1-unsigned ({tag}) is not signed"),
        "{refusal}"
    );
    Ok(())
}
