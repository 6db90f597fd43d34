//! One real control plane on loopback: etcd and kube-apiserver (TLS with a generated CA, token and
//! client-certificate authentication, RBAC, an audit log — see `audit`), and on request the
//! workload tier (see `workloads`).
//!
//! Expected flow: [`ControlPlane::start`] → tests use [`ControlPlane::client`] and friends →
//! drop (or [`ControlPlane::stop`]) kills every component by PID in reverse start order.
//! Guarantees: a component that cannot start gives an error naming it and its log, never a
//! hang; no process outlives the process that started it (see `process`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::{ObjectMeta, PostParams};

use crate::audit::{self, Audit, AuditError, AuditLog};
use crate::certs::{Pki, random_token, write};
use crate::kubeconfig::{Credentials, client_from, write_identity, write_kubeconfig};
use crate::process::Component;
use crate::ready::{free_port, http_ok, https_ok, wait_until};
use crate::{Error, binaries, workloads};

/// How long a component may take to become ready.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// The user name behind the admin token (group `system:masters`): the harness's own setup.
pub const ADMIN_USER: &str = "capstan-test-admin";

/// The group whose members may do anything, bypassing RBAC.
pub(crate) const MASTERS: &str = "system:masters";

/// The user name behind the unprivileged token; it may read, not write.
pub const UNPRIVILEGED_USER: &str = "capstan-test-unprivileged";

/// What to start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Tier {
    /// etcd + kube-apiserver: enough for everything that does not need pods to run.
    #[default]
    ApiServer,
    /// Also kube-controller-manager, kube-scheduler and kwok with one fake Node, so that
    /// Deployments roll out and their pods become Ready.
    Workloads,
}

/// A running control plane. Dropping it stops every component.
#[derive(Debug)]
pub struct ControlPlane {
    dir: PathBuf,
    server: String,
    tier: Tier,
    admin_kubeconfig: PathBuf,
    unprivileged_kubeconfig: PathBuf,
    pki: Pki,
    audit: AuditLog,
    components: Mutex<Vec<Component>>,
}

/// A component that has exited, as found by [`ControlPlane::exited_components`].
#[derive(Debug, Clone)]
pub struct ExitReport {
    /// Component name, e.g. `kube-apiserver`.
    pub component: &'static str,
    /// Its exit status, e.g. `signal: 9 (SIGKILL)`.
    pub status: String,
    /// Its log file.
    pub log: PathBuf,
    /// The end of its log.
    pub tail: String,
}

impl std::fmt::Display for ExitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} exited ({}); log: {}\n--- last lines of {} ---\n{}",
            self.component,
            self.status,
            self.log.display(),
            self.component,
            self.tail.trim_end()
        )
    }
}

impl ControlPlane {
    /// Starts a control plane of `tier` in a fresh directory under the system temp dir.
    pub async fn start(tier: Tier) -> Result<Self, Error> {
        let dir = fresh_dir()?;
        let pki_dir = dir.join("pki");
        std::fs::create_dir_all(&pki_dir).map_err(|source| Error::Prepare {
            what: pki_dir.display().to_string(),
            source,
        })?;
        let pki = Pki::generate(&pki_dir)?;
        let mut components = Vec::new();

        let etcd_url = start_etcd(&dir, &mut components).await?;
        let admin_token = random_token()?;
        let unprivileged_token = random_token()?;
        let tokens = dir.join("tokens.csv");
        write(
            &tokens,
            &format!(
                "{admin_token},{ADMIN_USER},uid-admin,\"{MASTERS}\"\n\
                 {unprivileged_token},{UNPRIVILEGED_USER},uid-unprivileged\n"
            ),
        )?;
        let port = free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let admin_kubeconfig = write_kubeconfig(
            &dir.join("admin.kubeconfig"),
            &server,
            &pki.ca_cert,
            "admin",
            Credentials::Token(&admin_token),
        )?;
        let unprivileged_kubeconfig = write_kubeconfig(
            &dir.join("unprivileged.kubeconfig"),
            &server,
            &pki.ca_cert,
            UNPRIVILEGED_USER,
            Credentials::Token(&unprivileged_token),
        )?;
        let audit = start_apiserver(
            &dir,
            &pki,
            &etcd_url,
            port,
            &tokens,
            &admin_kubeconfig,
            &mut components,
        )
        .await?;
        grant_read_to_unprivileged(&admin_kubeconfig).await?;
        if tier == Tier::Workloads {
            workloads::start(&dir, &pki, &server, &admin_kubeconfig, &mut components).await?;
        }
        Ok(Self {
            dir,
            server,
            tier,
            admin_kubeconfig,
            unprivileged_kubeconfig,
            pki,
            audit,
            components: Mutex::new(components),
        })
    }

    /// The apiserver's URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// What was started.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The directory holding certificates, kubeconfigs, data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kubeconfig of the admin identity (group `system:masters`), verifying the apiserver's TLS.
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// Kubeconfig of [`UNPRIVILEGED_USER`], who may read but not write.
    pub fn unprivileged_kubeconfig(&self) -> &Path {
        &self.unprivileged_kubeconfig
    }

    /// A new admin client. Build one per test: a kube client is bound to the Tokio runtime that
    /// created it, and each `#[tokio::test]` has its own.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        client_from(&self.admin_kubeconfig).await
    }

    /// A new client for [`UNPRIVILEGED_USER`].
    pub async fn unprivileged_client(&self) -> Result<kube::Client, Error> {
        client_from(&self.unprivileged_kubeconfig).await
    }

    /// Makes a new identity: a client certificate for `user` in `group` (e.g.
    /// `Some("system:masters")`, or `None` for a user with only the permissions RBAC grants it),
    /// signed by the CA the apiserver trusts, and a kubeconfig using it. Returns the
    /// kubeconfig's path. Any number can be made while the control plane runs.
    pub fn identity(&self, user: &str, group: Option<&str>) -> Result<PathBuf, Error> {
        write_identity(&self.dir, &self.server, &self.pki, user, group)
    }

    /// The audit log: every request of the test identities (see [`crate::audit`]).
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Every request logged so far; shorthand for `audit_log().read()`.
    pub fn audit(&self) -> Result<Audit, AuditError> {
        self.audit.read()
    }

    /// The process id of a running component, e.g. `pid("kube-apiserver")`.
    pub fn pid(&self, component: &str) -> Option<u32> {
        self.lock()
            .iter()
            .find(|c| c.name() == component)
            .map(Component::pid)
    }

    /// Name and PID of every component, in start order.
    pub fn processes(&self) -> Vec<(&'static str, u32)> {
        self.lock().iter().map(|c| (c.name(), c.pid())).collect()
    }

    /// Names, PIDs and log files of the components, one per line.
    pub fn describe(&self) -> String {
        self.lock()
            .iter_mut()
            .map(|c| {
                let state = c
                    .exit_status()
                    .map_or("running".to_owned(), |s| format!("exited ({s})"));
                format!(
                    "{} (pid {}): {state}; log: {}",
                    c.name(),
                    c.pid(),
                    c.log().display()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The components that have exited. A component being killed may take a moment to be
    /// reaped, so when none has exited yet this keeps looking for up to `grace`.
    pub async fn exited_components(&self, grace: Duration) -> Vec<ExitReport> {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let exited: Vec<ExitReport> = self
                .lock()
                .iter_mut()
                .filter_map(|c| {
                    c.exit_status().map(|status| ExitReport {
                        component: c.name(),
                        status: status.to_string(),
                        log: c.log().to_owned(),
                        tail: c.log_tail(),
                    })
                })
                .collect();
            if !exited.is_empty() || tokio::time::Instant::now() >= deadline {
                return exited;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every component, last started first. Safe to call more than once.
    pub fn stop(&self) {
        let mut components = self.lock();
        while let Some(mut component) = components.pop() {
            component.stop();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Component>> {
        // A panic while holding the lock leaves the list intact: keep using it.
        self.components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts etcd on two free ports and waits for `/health`; returns its client URL.
async fn start_etcd(dir: &Path, components: &mut Vec<Component>) -> Result<String, Error> {
    start_etcd_on(dir, free_port()?, free_port()?, components).await
}

/// Starts etcd on the given ports.
async fn start_etcd_on(
    dir: &Path,
    client_port: u16,
    peer_port: u16,
    components: &mut Vec<Component>,
) -> Result<String, Error> {
    let binary = binaries::require("etcd")?;
    let client_addr = format!("127.0.0.1:{client_port}");
    let client_url = format!("http://{client_addr}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let args = vec![
        "--name=default".to_owned(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=default={peer_url}"),
        "--unsafe-no-fsync=true".to_owned(),
    ];
    let mut etcd = Component::spawn("etcd", &binary, &args, dir.join("etcd.log"))?;
    wait_until(&mut etcd, STARTUP_TIMEOUT, "GET /health", || {
        http_ok(&client_addr, "/health")
    })
    .await?;
    components.push(etcd);
    Ok(client_url)
}

/// Starts kube-apiserver with its audit log and waits until `/readyz` answers through the admin
/// kubeconfig; returns the audit log.
async fn start_apiserver(
    dir: &Path,
    pki: &Pki,
    etcd_url: &str,
    port: u16,
    tokens: &Path,
    admin_kubeconfig: &Path,
    components: &mut Vec<Component>,
) -> Result<AuditLog, Error> {
    let binary = binaries::require("kube-apiserver")?;
    let (audit_flags, audit) = audit::apiserver_flags(dir)?;
    let mut args = vec![
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".to_owned(),
        "--advertise-address=127.0.0.1".to_owned(),
        format!("--secure-port={port}"),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        // A /16: room for thousands of Services (the controller benchmark creates 400).
        "--service-cluster-ip-range=10.0.0.0/16".to_owned(),
        "--allow-privileged=true".to_owned(),
        "--authorization-mode=RBAC".to_owned(),
        format!("--token-auth-file={}", tokens.display()),
        "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
        format!("--service-account-key-file={}", pki.sa_pub.display()),
        format!(
            "--service-account-signing-key-file={}",
            pki.sa_key.display()
        ),
        "--disable-admission-plugins=ServiceAccount".to_owned(),
    ];
    args.extend(audit_flags);
    let mut apiserver = Component::spawn(
        "kube-apiserver",
        &binary,
        &args,
        dir.join("kube-apiserver.log"),
    )?;
    let client = client_from(admin_kubeconfig).await?;
    wait_until(&mut apiserver, STARTUP_TIMEOUT, "GET /readyz", || {
        https_ok(&client, "/readyz")
    })
    .await?;
    components.push(apiserver);
    Ok(audit)
}

/// Gives [`UNPRIVILEGED_USER`] read-only access to everything (get, list, watch) and no writes,
/// so RBAC refusals are tested against the real authorizer. The role is defined here rather than
/// borrowed from the built-in `view` role, whose rules are filled in by the controller manager's
/// aggregation controller and are empty in the API-server tier.
async fn grant_read_to_unprivileged(admin_kubeconfig: &Path) -> Result<(), Error> {
    let client = client_from(admin_kubeconfig).await?;
    let name = format!("{UNPRIVILEGED_USER}-read");
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["*".to_owned()]),
            resources: Some(vec!["*".to_owned()]),
            verbs: vec!["get".to_owned(), "list".to_owned(), "watch".to_owned()],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name,
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "User".to_owned(),
            name: UNPRIVILEGED_USER.to_owned(),
            namespace: None,
        }]),
    };
    let setup = |what| move |source| Error::Setup { what, source };
    kube::Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &role)
        .await
        .map_err(setup("the unprivileged user's read-only role"))?;
    kube::Api::<ClusterRoleBinding>::all(client)
        .create(&PostParams::default(), &binding)
        .await
        .map_err(setup("the unprivileged user's role binding"))?;
    Ok(())
}

/// A new directory `$TMPDIR/capstan-testenv/<pid>-<n>`, after removing the directories of
/// processes that no longer run (a shared control plane lives in a `static` and is never
/// dropped, so its directory is cleaned here by a later run).
pub(crate) fn fresh_dir() -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir().join("capstan-testenv");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let owner = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = owner
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Prepare {
        what: dir.display().to_string(),
        source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::{fresh_dir, start_etcd_on};
    use crate::Error;
    use crate::ready::free_port;

    #[tokio::test]
    async fn etcd_on_a_taken_port_fails_at_once_naming_etcd_and_the_cause() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let dir = fresh_dir().unwrap();
        let mut components = Vec::new();
        let err = start_etcd_on(&dir, port, free_port().unwrap(), &mut components)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Exited {
                    component: "etcd",
                    ..
                }
            ),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains("address already in use"), "{message}");
        assert!(components.is_empty());
        drop(taken);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
