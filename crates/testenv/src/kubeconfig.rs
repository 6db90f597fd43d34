//! Kubeconfig files for the control plane (one per identity) and kube-rs clients built from them,
//! so tests and `kubectl` go through exactly the same file a user would.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Error;
use crate::certs::write;

/// Writes a kubeconfig for `server` that trusts `ca_cert` and authenticates with `token`, or
/// anonymously without one.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_cert: &Path,
    user: &str,
    token: Option<&str>,
) -> Result<PathBuf, Error> {
    let credentials =
        token.map_or_else(|| "{}".to_owned(), |token| format!("\n    token: {token}"));
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: capstan-testenv
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user: {credentials}
contexts:
- name: capstan-testenv
  context:
    cluster: capstan-testenv
    user: {user}
current-context: capstan-testenv
",
        ca = ca_cert.display(),
    );
    write(path, &text)?;
    Ok(path.to_owned())
}

/// A kube-rs client configured from the kubeconfig at `path`.
pub async fn client_from(path: &Path) -> Result<kube::Client, Error> {
    let client_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::Client {
        path: path.to_owned(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| client_error(Box::new(e)))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| client_error(Box::new(e)))?;
    kube::Client::try_from(config).map_err(|e| client_error(Box::new(e)))
}
