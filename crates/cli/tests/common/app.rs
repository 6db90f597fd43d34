//! Helpers of the tests that run Applications end to end: the CRD from `deploy/crds/`, a
//! private repository with its credentials Secret, an Application for it, the real
//! `capstan controller` process, and waiting on an Application's status.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use capstan_api::crd::APPLICATION_CRD_NAME;
use capstan_testenv::{Content, GitServers, TestContext, commit_files};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};

/// How long an Application may take to become Synced and Healthy.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Installs the generated CRD file (server-side apply: a rerun against the shared server is
/// harmless) and waits, with a watch, until it is Established.
pub async fn install_crd(client: &kube::Client) -> anyhow::Result<()> {
    let path = repository_file("deploy/crds/applications.capstan.dev.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let crd: Value = serde_saphyr::from_str(&text)?;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let params = PatchParams::apply("capstan-test").force();
    crds.patch(APPLICATION_CRD_NAME, &params, &Patch::Apply(crd))
        .await
        .context("apply the crd")?;
    let established = await_condition(crds, APPLICATION_CRD_NAME, conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .context("the crd did not become Established in 30 s")??;
    Ok(())
}

/// A file of the repository, by its path from the repository root.
pub fn repository_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A private repository on the shared HTTP git server.
pub struct Repository {
    /// The bare repository on disk, to commit to.
    pub dir: PathBuf,
    /// Its HTTP URL.
    pub url: String,
    /// The first commit.
    pub first: String,
}

/// A private repository `<namespace>.git` with `files` committed under `app/` on `main`, and a
/// Secret `repo` in the test's namespace with its credentials.
pub async fn private_repository(
    ctx: &TestContext,
    files: &[(&str, &str)],
) -> anyhow::Result<Repository> {
    let paths: Vec<(String, &str)> = files
        .iter()
        .map(|(path, text)| (format!("app/{path}"), *text))
        .collect();
    let files: Vec<(&str, Content<'_>)> = paths
        .iter()
        .map(|(path, text)| (path.as_str(), Content::File(text)))
        .collect();
    private_repository_of(ctx, &files).await
}

/// A private repository `<namespace>.git` with `files` committed at their paths on `main`, and
/// a Secret `repo` in the test's namespace with its credentials.
pub async fn private_repository_of(
    ctx: &TestContext,
    files: &[(&str, Content<'_>)],
) -> anyhow::Result<Repository> {
    let servers = GitServers::shared().await?;
    let name = format!("{}.git", ctx.namespace);
    let dir = servers.create_repo(&name)?;
    let first = commit_files(&dir, "main", files, "first")?;
    let (user, password) = servers.http_credentials();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let secret = serde_json::from_value(json!({"metadata": {"name": "repo"},
        "stringData": {"username": user, "password": password}}))?;
    secrets.create(&PostParams::default(), &secret).await?;
    Ok(Repository {
        url: servers.http_url(&name),
        dir,
        first,
    })
}

/// Commits `changes` to files under `app/` on `main` on top of the last commit; returns the
/// commit.
pub fn commit(
    repo: &Path,
    changes: &[(&str, Content<'_>)],
    message: &str,
) -> anyhow::Result<String> {
    let paths: Vec<(String, Content<'_>)> = changes
        .iter()
        .map(|(path, content)| (format!("app/{path}"), *content))
        .collect();
    let contents: Vec<(&str, Content<'_>)> =
        paths.iter().map(|(path, c)| (path.as_str(), *c)).collect();
    commit_files(repo, "main", &contents, message)
}

/// The Application `name` of the test's namespace for the `app/` directory of `url` with the
/// Secret `repo`, deploying to the test's namespace, with `extra` merged into its `spec`.
pub async fn create_application(
    ctx: &TestContext,
    name: &str,
    url: &str,
    extra: Value,
) -> anyhow::Result<()> {
    let mut spec = json!({
        "source": {"repoURL": url, "targetRevision": "main", "path": "app",
            "secretRef": {"name": "repo"}},
        "destination": {"namespace": ctx.namespace},
        "syncPolicy": {"automated": {"prune": true}},
    });
    merge(&mut spec, extra);
    let app = json!({"apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ctx.namespace}, "spec": spec});
    applications(ctx)
        .create(&PostParams::default(), &serde_json::from_value(app)?)
        .await?;
    Ok(())
}

/// Merges the object `extra` into `into`, key by key (objects recursively).
fn merge(into: &mut Value, extra: Value) {
    match (into, extra) {
        (Value::Object(into), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, extra) => *into = extra,
    }
}

/// The Applications of the test's namespace (admin client).
pub fn applications(ctx: &TestContext) -> Api<DynamicObject> {
    super::api(
        ctx,
        &ctx.namespace,
        "capstan.dev",
        "v1alpha1",
        "Application",
        "applications",
    )
}

/// Waits until the Application `name` is Synced and Healthy at `commit`; returns it. On timeout
/// the error shows its last status.
pub async fn until_synced(ctx: &TestContext, name: &str, commit: &str) -> anyhow::Result<Value> {
    let apps = applications(ctx);
    let last = std::sync::Mutex::new(Value::Null);
    let what = format!("application {name} Synced and Healthy at {commit}");
    let found = super::eventually(&what, TIMEOUT, || async {
        let app = super::get(&apps, name).await?.unwrap_or_default();
        let status = &app["status"];
        let done = status["sync"]["status"] == "Synced"
            && status["sync"]["revision"] == commit
            && status["health"]["status"] == "Healthy";
        *last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status.clone();
        Ok(done.then_some(app))
    })
    .await;
    found.map_err(|err| {
        let status = last.lock().map(|s| s.to_string()).unwrap_or_default();
        err.context(format!("last status: {status}"))
    })
}

/// `capstan controller` for the test's namespace, run with `kubeconfig`, polling every second,
/// serving its endpoints on `port` (see [`super::free_port`]), with `extra` arguments; killed
/// when dropped.
pub fn spawn_controller(
    ctx: &TestContext,
    kubeconfig: &Path,
    port: u16,
    extra: &[&str],
) -> anyhow::Result<tokio::process::Child> {
    spawn_replica(ctx, kubeconfig, port, "controller", extra)
}

/// Like [`spawn_controller`], for one of several replicas: `replica` names its git cache
/// (`<replica>-git`) and its log ([`replica_log`]), which no other replica shares.
pub fn spawn_replica(
    ctx: &TestContext,
    kubeconfig: &Path,
    port: u16,
    replica: &str,
    extra: &[&str],
) -> anyhow::Result<tokio::process::Child> {
    let git_cache = std::env::temp_dir()
        .join("capstan-cli-tests")
        .join(&ctx.namespace)
        .join(format!("{replica}-git"));
    // Its log goes to a file, never to a pipe nobody drains (a full pipe would block it).
    std::fs::create_dir_all(&git_cache)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(replica_log(ctx, replica))?;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .arg("controller")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--namespace", &ctx.namespace, "--poll-interval", "1s"])
        .arg("--git-cache")
        .arg(&git_cache)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    Ok(child)
}

/// Where the test's controllers log (stderr, appended).
pub fn controller_log(ctx: &TestContext) -> PathBuf {
    replica_log(ctx, "controller")
}

/// Where the replica `replica` of the test logs (stderr, appended).
pub fn replica_log(ctx: &TestContext, replica: &str) -> PathBuf {
    std::env::temp_dir()
        .join("capstan-cli-tests")
        .join(&ctx.namespace)
        .join(format!("{replica}.log"))
}

/// Stops a controller with SIGTERM and waits until it has exited cleanly; returns what the
/// test's controllers wrote on stderr.
pub async fn stop_controller(
    ctx: &TestContext,
    mut controller: tokio::process::Child,
) -> anyhow::Result<String> {
    let pid = controller.id().context("the controller has no pid")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    let status = tokio::time::timeout(Duration::from_secs(15), controller.wait()).await??;
    let stderr = std::fs::read_to_string(controller_log(ctx)).unwrap_or_default();
    anyhow::ensure!(
        status.success(),
        "the controller did not stop cleanly: {status}\n{stderr}"
    );
    Ok(stderr)
}
