//! Kubeconfig files for the control plane (one per identity: a bearer token, a client certificate
//! or anonymous) and kube-rs clients built from them, so tests and `kubectl` go through exactly
//! the same file a user would.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Error;
use crate::certs::{Pki, write};

/// How a kubeconfig authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// Not at all: the apiserver sees `system:anonymous`.
    Anonymous,
    /// With a bearer token from the apiserver's token file.
    Token(&'a str),
    /// With a client certificate and its key (PEM files).
    ClientCert {
        /// The certificate.
        cert: &'a Path,
        /// Its key.
        key: &'a Path,
    },
}

/// Writes a kubeconfig for `server` that trusts `ca_cert` and authenticates with `credentials`.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_cert: &Path,
    user: &str,
    credentials: Credentials<'_>,
) -> Result<PathBuf, Error> {
    let credentials = match credentials {
        Credentials::Anonymous => "{}".to_owned(),
        Credentials::Token(token) => format!("\n    token: {token}"),
        Credentials::ClientCert { cert, key } => format!(
            "\n    client-certificate: {}\n    client-key: {}",
            cert.display(),
            key.display()
        ),
    };
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

/// Makes an identity the apiserver knows without a restart: a client certificate for `user` in
/// `group` signed by the control plane's CA, and a kubeconfig using it, written under
/// `<dir>/identities/`. Returns the kubeconfig's path.
pub fn write_identity(
    dir: &Path,
    server: &str,
    pki: &Pki,
    user: &str,
    group: Option<&str>,
) -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let identities = dir.join("identities");
    std::fs::create_dir_all(&identities).map_err(|source| Error::Prepare {
        what: identities.display().to_string(),
        source,
    })?;
    let slug: String = user
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(60)
        .collect();
    let base = identities.join(format!(
        "{}-{slug}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let (cert_pem, key_pem) = pki.client_cert(user, group)?;
    let cert = base.with_extension("crt");
    let key = base.with_extension("key");
    write(&cert, &cert_pem)?;
    write(&key, &key_pem)?;
    write_kubeconfig(
        &base.with_extension("kubeconfig"),
        server,
        &pki.ca_cert,
        &slug,
        Credentials::ClientCert {
            cert: &cert,
            key: &key,
        },
    )
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
