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
];

/// The oldest Go that builds the pinned Kubernetes release (its go.mod says `go 1.25.0`).
const MIN_GO_MINOR: u32 = 25;

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
