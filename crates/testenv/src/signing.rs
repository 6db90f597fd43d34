//! Signed commits and tags made with the real tools, for the verified-commits tests: SSH keys from
//! `ssh-keygen`, OpenPGP keys from GnuPG in a private `GNUPGHOME`, and commits and tags from
//! `git commit -S` / `git tag -s` in a work clone of a test repository, pushed to it.
//!
//! Guarantees: every key is made fresh in a private directory; the `gpg-agent` GnuPG starts for
//! that directory is stopped (`gpgconf --kill` for that home only) when the [`Signers`] drops.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::certs::random_token;

/// A signing key made by a real tool.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// An SSH key: the private key file, and the public key line.
    Ssh {
        /// The private key file (no passphrase).
        private: PathBuf,
        /// `ssh-ed25519 AAAA… comment`.
        public: String,
        /// `SHA256:…`, as `ssh-keygen -l` prints it.
        fingerprint: String,
    },
    /// An OpenPGP key in the signers' GnuPG home.
    OpenPgp {
        /// The primary key's fingerprint (upper-case hex), as GnuPG prints it.
        fingerprint: String,
        /// The public key, ASCII-armored.
        public: String,
    },
}

impl SigningKey {
    /// The public key as a trusted-keys Secret entry holds it.
    pub fn public(&self) -> &str {
        match self {
            SigningKey::Ssh { public, .. } | SigningKey::OpenPgp { public, .. } => public,
        }
    }

    /// The fingerprint the key's signer is named by.
    pub fn fingerprint(&self) -> &str {
        match self {
            SigningKey::Ssh { fingerprint, .. } | SigningKey::OpenPgp { fingerprint, .. } => {
                fingerprint
            }
        }
    }
}

/// A private directory for keys, a GnuPG home and work clones.
#[derive(Debug)]
pub struct Signers {
    dir: PathBuf,
    gnupg: PathBuf,
}

impl Signers {
    /// A fresh directory under the system's temporary directory (short, so that GnuPG's agent
    /// socket path fits).
    pub fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("capstan-sign-{}", &random_token()?[..12]));
        let gnupg = dir.join("gnupg");
        std::fs::create_dir_all(&gnupg)?;
        set_private(&gnupg)?;
        Ok(Self { dir, gnupg })
    }

    /// The private directory (keys, GnuPG home, work clones), for a test's own files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new ed25519 SSH key (`ssh-keygen -t ed25519 -N ''`) with `comment`.
    pub fn ssh_key(&self, comment: &str) -> anyhow::Result<SigningKey> {
        let private = self.dir.join(format!("ssh-{}", &random_token()?[..8]));
        let path = private.display().to_string();
        run(
            Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", comment]),
            &["-f", &path],
        )?;
        let public = std::fs::read_to_string(format!("{path}.pub"))?
            .trim()
            .to_owned();
        let listed = run(Command::new("ssh-keygen").args(["-l", "-f"]), &[&path])?;
        let fingerprint = listed
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("no fingerprint in {listed:?}"))?
            .to_owned();
        Ok(SigningKey::Ssh {
            private,
            public,
            fingerprint,
        })
    }

    /// A new ed25519 OpenPGP signing key for `user_id` (`gpg --quick-gen-key … ed25519 sign`).
    pub fn openpgp_key(&self, user_id: &str) -> anyhow::Result<SigningKey> {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            user_id,
            "ed25519",
            "sign",
            "never",
        ])?;
        let listed = self.gpg(&["--with-colons", "--list-keys", user_id])?;
        let fingerprint = listed
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .ok_or_else(|| anyhow::anyhow!("no fingerprint for {user_id}: {listed}"))?
            .to_owned();
        let public = self.gpg(&["--armor", "--export", &fingerprint])?;
        Ok(SigningKey::OpenPgp {
            fingerprint,
            public,
        })
    }

    /// `key` with a new ed25519 signing subkey (`gpg --quick-add-key … sign`), which GnuPG then
    /// signs with in its place; the public key exported again, with the subkey.
    pub fn add_signing_subkey(&self, key: &SigningKey) -> anyhow::Result<SigningKey> {
        let fingerprint = key.fingerprint().to_owned();
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-add-key",
            &fingerprint,
            "ed25519",
            "sign",
            "never",
        ])?;
        let public = self.gpg(&["--armor", "--export", &fingerprint])?;
        Ok(SigningKey::OpenPgp {
            fingerprint,
            public,
        })
    }

    /// `key` revoked: the revocation certificate GnuPG wrote when it made the key, imported; the
    /// public key exported again, with the revocation.
    pub fn revoke(&self, key: &SigningKey) -> anyhow::Result<SigningKey> {
        let fingerprint = key.fingerprint().to_owned();
        let stored = self
            .gnupg
            .join("openpgp-revocs.d")
            .join(format!("{fingerprint}.rev"));
        // GnuPG guards the stored certificate against an accidental import with a leading colon.
        let certificate = std::fs::read_to_string(stored)?.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        let path = self.dir.join(format!("{fingerprint}.rev"));
        std::fs::write(&path, certificate)?;
        self.gpg(&["--import", &path.display().to_string()])?;
        let public = self.gpg(&["--armor", "--export", &fingerprint])?;
        Ok(SigningKey::OpenPgp {
            fingerprint,
            public,
        })
    }

    /// Runs `gpg --batch` in the signers' home.
    fn gpg(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new("gpg");
        command.env("GNUPGHOME", &self.gnupg).arg("--batch");
        run(&mut command, args)
    }

    /// A work clone of the bare repository `repo`, for signed commits and tags.
    pub fn clone_of(&self, repo: &Path) -> anyhow::Result<WorkClone> {
        let dir = self.dir.join(format!("work-{}", &random_token()?[..8]));
        let (from, to) = (repo.display().to_string(), dir.display().to_string());
        run(
            Command::new("git").args(["clone", "--quiet"]),
            &[&from, &to],
        )?;
        Ok(WorkClone {
            dir,
            gnupg: self.gnupg.clone(),
        })
    }
}

impl Drop for Signers {
    fn drop(&mut self) {
        // Only the agent of this home: gpgconf addresses it by its socket in GNUPGHOME.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.gnupg)
            .args(["--kill", "gpg-agent"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A work clone of a test repository.
#[derive(Debug)]
pub struct WorkClone {
    dir: PathBuf,
    gnupg: PathBuf,
}

impl WorkClone {
    /// Writes `files`, commits them on `main` signed with `key` (`git commit -S`), or unsigned
    /// with `None`, and pushes; returns the commit's SHA.
    pub fn commit(
        &self,
        files: &[(&str, &str)],
        message: &str,
        key: Option<&SigningKey>,
    ) -> anyhow::Result<String> {
        for (path, text) in files {
            let path = self.dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        self.git(None, &["add", "--all"])?;
        let sign = if key.is_some() { "-S" } else { "--no-gpg-sign" };
        self.git(key, &["commit", "--quiet", sign, "-m", message])?;
        self.git(None, &["push", "--quiet", "origin", "HEAD:main"])?;
        self.git(None, &["rev-parse", "HEAD"])
    }

    /// Tags `HEAD` as `name`: signed with `key` (`git tag -s`), or annotated and unsigned with
    /// `None`; pushes the tag and returns the tag object's SHA.
    pub fn tag(&self, name: &str, key: Option<&SigningKey>) -> anyhow::Result<String> {
        let kind = if key.is_some() { "-s" } else { "-a" };
        self.git(key, &["tag", kind, name, "-m", &format!("release {name}")])?;
        let reference = format!("refs/tags/{name}");
        self.git(None, &["push", "--quiet", "origin", &reference])?;
        self.git(None, &["rev-parse", &reference])
    }

    /// Runs git in the clone as a fixed test author, signing with `key` when given.
    pub fn git(&self, key: Option<&SigningKey>, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new("git");
        command
            .current_dir(&self.dir)
            .env("GNUPGHOME", &self.gnupg)
            .args([
                "-c",
                "user.name=Test Signer",
                "-c",
                "user.email=signer@example.test",
            ]);
        match key {
            Some(SigningKey::Ssh { private, .. }) => {
                let signing = format!("user.signingkey={}", private.display());
                command.args(["-c", "gpg.format=ssh", "-c", &signing]);
            }
            Some(SigningKey::OpenPgp { fingerprint, .. }) => {
                let signing = format!("user.signingkey={fingerprint}");
                command.args(["-c", "gpg.format=openpgp", "-c", "gpg.program=gpg"]);
                command.args(["-c", &signing]);
            }
            None => {}
        }
        run(&mut command, args)
    }
}

/// Runs `command` with `args`, failing with its standard error; returns its trimmed output.
fn run(command: &mut Command, args: &[&str]) -> anyhow::Result<String> {
    let output = command.args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn set_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
