//! Where the test binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)
//! live. They are built by `cargo xtask testenv build` into a cache outside the repository, keyed
//! by the Kubernetes release pinned in `crates/testenv/k8s/go.mod`.

use std::path::{Path, PathBuf};

use crate::Error;

/// Environment variable that overrides the directory holding the test binaries.
pub const BIN_DIR_ENV: &str = "CAPSTAN_TESTENV_BIN_DIR";

/// The wrapper module that pins the Kubernetes release; its `require` line is the single source
/// of the version.
const GO_MOD: &str = include_str!("../k8s/go.mod");

/// The kwok release used for fake nodes and pods (kept in step with xtask's `KWOK_VERSION`).
pub const KWOK_VERSION: &str = "v0.8.0";

/// The Kubernetes release the test binaries are built from, e.g. `v1.35.4`.
pub fn kubernetes_version() -> &'static str {
    GO_MOD
        .lines()
        .filter_map(|line| line.trim().strip_prefix("require k8s.io/kubernetes "))
        .map(str::trim)
        .next()
        .unwrap_or("unknown")
}

/// The directory holding the test binaries: `$CAPSTAN_TESTENV_BIN_DIR`, else
/// `$XDG_CACHE_HOME/capstan/testenv/k8s-<version>` (`~/.cache` when unset).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache
        .join("capstan")
        .join("testenv")
        .join(format!("k8s-{}-kwok-{KWOK_VERSION}", kubernetes_version()))
}

/// Environment variable naming the reference kubectl (1.37.1) that tests and benchmarks compare
/// with.
pub const KUBECTL_ENV: &str = "CAPSTAN_KUBECTL";

/// The reference kubectl: `$CAPSTAN_KUBECTL`, else where `cargo xtask test` and
/// `cargo xtask bench` install it (`~/.cache/capstan/venv/bin/kubectl`). Never the kubectl on
/// `PATH`, which may be another version (and another kustomize).
pub fn kubectl() -> PathBuf {
    std::env::var_os(KUBECTL_ENV).map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/capstan/venv/bin/kubectl")
        },
        PathBuf::from,
    )
}

/// The path of one component's binary, or an error naming the component when it is missing.
pub fn require(component: &'static str) -> Result<PathBuf, Error> {
    let path = bin_dir().join(component);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingBinary { component, path })
    }
}

/// The real `git-daemon` binary in git's exec path. `git daemon` is a wrapper that runs it as a
/// child, which the death signal of the process that started `git` would not reach.
pub fn git_daemon() -> Result<PathBuf, Error> {
    let prepare = |source| Error::Prepare {
        what: "the git-daemon binary (in `git --exec-path`)".to_owned(),
        source,
    };
    let output = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .map_err(prepare)?;
    let path = Path::new(String::from_utf8_lossy(&output.stdout).trim()).join("git-daemon");
    if path.is_file() {
        Ok(path)
    } else {
        Err(prepare(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is missing: install git", path.display()),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::{kubernetes_version, require};

    #[test]
    fn a_missing_binary_is_named_with_where_it_was_looked_for_and_how_to_build_it() {
        let err = require("no-such-component").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("no-such-component binary not found at "),
            "{message}"
        );
        assert!(message.contains("cargo xtask testenv build"), "{message}");
    }

    #[test]
    fn kubernetes_version_comes_from_the_wrapper_go_mod() {
        let version = kubernetes_version();
        assert!(version.starts_with("v1."), "unexpected version {version:?}");
        assert_eq!(
            version.split('.').count(),
            3,
            "not a full release: {version:?}"
        );
    }
}
