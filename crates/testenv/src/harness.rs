//! The test harness: one shared control plane per test binary and tier, a fresh namespace and a
//! Capstan identity of its own per test (so its requests can be counted in the audit log while
//! other tests run), and failure reports that name the component that died and show its log.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use tokio::sync::OnceCell;

use crate::audit::{Audit, AuditError, AuditLog};
use crate::control_plane::{ControlPlane, MASTERS, Tier};
use crate::kubeconfig::client_from;

/// What a test body gets: an admin client, its own namespace and its own Capstan identity.
#[derive(Clone)]
pub struct TestContext {
    /// Admin client (group `system:masters`).
    pub client: kube::Client,
    /// A namespace created for this test.
    pub namespace: String,
    /// Kubeconfig of the admin identity.
    pub admin_kubeconfig: PathBuf,
    /// Kubeconfig of the unprivileged identity (read-only through RBAC).
    pub unprivileged_kubeconfig: PathBuf,
    /// The user name Capstan runs as in this test, `capstan:<namespace>` (group
    /// `system:masters`): no other test and not the harness makes requests as this user.
    pub capstan_user: String,
    /// Kubeconfig of [`capstan_user`](Self::capstan_user) (a client certificate).
    pub capstan_kubeconfig: PathBuf,
    /// The control plane's audit log.
    pub audit_log: AuditLog,
}

impl TestContext {
    /// A new client acting as [`capstan_user`](Self::capstan_user).
    pub async fn capstan_client(&self) -> Result<kube::Client, crate::Error> {
        client_from(&self.capstan_kubeconfig).await
    }

    /// Every request in the control plane's audit log so far (all tests' and the harness's);
    /// narrow it with [`Audit::by_user`], [`Audit::in_namespace`] and [`Audit::since`].
    pub fn audit(&self) -> Result<Audit, AuditError> {
        self.audit_log.read()
    }
}

/// The control plane of `tier` shared by every test in this test binary, started on first use.
/// Its processes end with the test binary (see `process`). A start that failed is reported to
/// every test that asks, without trying again.
pub async fn shared(tier: Tier) -> anyhow::Result<&'static ControlPlane> {
    static API_SERVER: OnceCell<Result<ControlPlane, String>> = OnceCell::const_new();
    static WORKLOADS: OnceCell<Result<ControlPlane, String>> = OnceCell::const_new();
    let cell = match tier {
        Tier::ApiServer => &API_SERVER,
        Tier::Workloads => &WORKLOADS,
    };
    let started = cell
        .get_or_init(|| async move {
            ControlPlane::start(tier)
                .await
                .map_err(|err| format!("{:#}", anyhow::Error::new(err)))
        })
        .await;
    started
        .as_ref()
        .map_err(|msg| anyhow!("the shared control plane ({tier:?}) could not start: {msg}"))
}

/// Runs a test against the shared control plane of `tier`; see [`run_in`].
pub async fn run<F, Fut>(tier: Tier, test: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce(TestContext) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    run_in(shared(tier).await?, test, body).await
}

/// Runs `body` in a fresh namespace of `env`. When the body fails or panics, the error names
/// every component that has exited, with the end of its log, and lists all components and their
/// log files. The namespace is deleted after a pass and kept after a failure, for inspection.
pub async fn run_in<F, Fut>(env: &ControlPlane, test: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce(TestContext) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let client = env.client().await?;
    let namespace = match create_namespace(&client, test).await {
        Ok(namespace) => namespace,
        Err(err) => return Err(explain(env, test, err).await),
    };
    let capstan_user = format!("capstan:{namespace}");
    let capstan_kubeconfig = match env.identity(&capstan_user, Some(MASTERS)) {
        Ok(kubeconfig) => kubeconfig,
        Err(err) => return Err(explain(env, test, err.into()).await),
    };
    let ctx = TestContext {
        client: client.clone(),
        namespace: namespace.clone(),
        admin_kubeconfig: env.admin_kubeconfig().to_owned(),
        unprivileged_kubeconfig: env.unprivileged_kubeconfig().to_owned(),
        capstan_user,
        capstan_kubeconfig,
        audit_log: env.audit_log().clone(),
    };
    let outcome = match tokio::spawn(body(ctx)).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => {
            Err(anyhow!("panicked: {}", panic_message(join.into_panic())))
        }
        Err(join) => Err(anyhow!("was cancelled: {join}")),
    };
    match outcome {
        Ok(()) => {
            let namespaces = kube::Api::<Namespace>::all(client);
            // Namespace deletion finishes in the background; the next test does not wait for it.
            let _ = namespaces
                .delete(&namespace, &DeleteParams::background())
                .await;
            Ok(())
        }
        Err(err) => Err(explain(env, test, err).await),
    }
}

/// Creates a namespace named after the test, with a random suffix.
async fn create_namespace(client: &kube::Client, test: &str) -> anyhow::Result<String> {
    let mut slug: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug.truncate(40);
    let suffix = crate::certs::random_token()?;
    let name = format!("t-{}-{}", slug.trim_matches('-'), &suffix[..8]);
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    kube::Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(name)
}

/// Turns a test failure into an error that leads with any component that died.
async fn explain(env: &ControlPlane, test: &str, err: anyhow::Error) -> anyhow::Error {
    let exited = env.exited_components(Duration::from_secs(2)).await;
    let components = env.describe();
    let mut report = String::new();
    for exit in &exited {
        report.push_str(&format!("{exit}\n\n"));
    }
    let headline = match exited.first() {
        Some(first) => format!(
            "test `{test}` failed: {} exited during the test",
            first.component
        ),
        None => format!("test `{test}` failed"),
    };
    anyhow!("{headline}: {err:#}\n\n{report}control plane components:\n{components}")
}

/// The message of a panic payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}
