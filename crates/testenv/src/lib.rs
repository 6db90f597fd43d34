//! Real components for Capstan's tests, on loopback: etcd and kube-apiserver (TLS with a
//! generated CA that clients verify, token authentication, RBAC), and on request the workload
//! tier — kube-controller-manager, kube-scheduler and kwok with one fake Node — so that
//! Deployments really roll out. Nothing here imitates the Kubernetes API; the binaries are built
//! from the Kubernetes Go modules by `cargo xtask testenv build` (see `k8s/go.mod`).
//!
//! Tests use [`run`]: one control plane per test binary and tier, shared by its tests, and a
//! fresh namespace and Capstan identity per test. The apiserver keeps an audit log, so a test
//! counts exactly which requests an identity made ([`audit`]). When a test fails, the error names
//! any component that died and ends with the tail of its log.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use capstan_testenv::{Tier, run};
//! run(Tier::ApiServer, "lists configmaps", |ctx| async move {
//!     let api = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(ctx.client, &ctx.namespace);
//!     api.list(&Default::default()).await?;
//!     Ok(())
//! })
//! .await
//! # }
//! ```

pub mod audit;
pub mod bearer_proxy;
pub mod big_repo;
pub mod binaries;
mod certs;
mod control_plane;
pub mod counting_proxy;
pub mod crds;
pub mod git_servers;
mod harness;
mod kubeconfig;
mod process;
mod ready;
pub mod signing;
pub mod supervisor;
pub mod webhook;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

pub use audit::{Audit, AuditError, AuditEvent, AuditLog, AuditMark};
pub use big_repo::BigRepo;
pub use control_plane::{ADMIN_USER, ControlPlane, ExitReport, Tier, UNPRIVILEGED_USER};
pub use counting_proxy::{CountingProxy, Transfer};
pub use crds::{api_for, crd_api, open_crd};
pub use git_servers::{Content, GitServers, commit_files, run_git};
pub use harness::{TestContext, run, run_in, shared};
pub use kubeconfig::client_from;
pub use signing::{Signers, SigningKey, WorkClone};
pub use webhook::MutatingWebhook;
pub use workloads::NODE_NAME;

/// Why a control plane could not be started. Every variant names the component or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A test binary has not been built.
    #[error(
        "{component} binary not found at {}: build the test binaries with `cargo xtask testenv build`",
        path.display()
    )]
    MissingBinary {
        /// The component, e.g. `kube-apiserver`.
        component: &'static str,
        /// Where it was expected.
        path: PathBuf,
    },
    /// The process could not be spawned.
    #[error("failed to start {component}")]
    Spawn {
        /// The component.
        component: &'static str,
        /// The spawn failure.
        #[source]
        source: std::io::Error,
    },
    /// The process exited while starting (crash, port taken, bad flag).
    #[error(
        "{component} exited during startup ({status}); log: {}\n--- last lines of {component} ---\n{tail}",
        log.display()
    )]
    Exited {
        /// The component.
        component: &'static str,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The process kept running but never became ready.
    #[error(
        "{component} did not become ready ({what}) within {timeout:?}; log: {}\n--- last lines of {component} ---\n{tail}",
        log.display()
    )]
    NotReady {
        /// The component.
        component: &'static str,
        /// What was waited for.
        what: String,
        /// How long.
        timeout: Duration,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A file, directory or port could not be prepared.
    #[error("failed to prepare {what}")]
    Prepare {
        /// What was being prepared.
        what: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("failed to generate the control plane's certificates")]
    Certificates(#[from] rcgen::Error),
    /// A client could not be configured from a kubeconfig.
    #[error("failed to build a client from {}", path.display())]
    Client {
        /// The kubeconfig.
        path: PathBuf,
        /// The failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An object the environment needs could not be created.
    #[error("failed to create {what}")]
    Setup {
        /// The object.
        what: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A broken assumption inside the harness.
    #[error("internal error: {0}")]
    Internal(&'static str),
}
