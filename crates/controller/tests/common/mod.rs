//! Shared helpers of the controller's end-to-end tests: a private repository with a Secret and a
//! controller for the test's namespace, Applications for it, and waiting on their status.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use capstan_api::application::{
    Application, Condition, ConditionStatus, ConditionType, SyncSummary,
};
use capstan_controller::context::Context;
use capstan_controller::reconcile;
use capstan_testenv::{Content, GitServers, TestContext, commit_files};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository poll interval of the tests' controllers.
pub const POLL: Duration = Duration::from_secs(1);

pub fn settings(level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LEVEL: {level}\n"
    )
}

pub const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80}\n";

/// The Ready condition of `app`, when it has one.
pub fn ready(app: &Application) -> Option<&Condition> {
    app.status.as_ref()?.condition(ConditionType::Ready)
}

/// Whether `app` is Ready=True.
pub fn is_ready(app: &Application) -> bool {
    ready(app).is_some_and(|c| c.status == ConditionStatus::True)
}

/// What `app`'s status says of its sync: status, revision, subject.
pub fn sync(app: &Application) -> Option<&SyncSummary> {
    app.status.as_ref()?.sync.as_ref()
}

/// Waits until `check` holds for the Application, failing with its last status.
pub async fn until(
    apps: &Api<Application>,
    name: &str,
    what: &str,
    check: impl Fn(&Application) -> bool,
) -> anyhow::Result<Application> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let app = apps.get(name).await?;
        if check(&app) {
            return Ok(app);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}; status: {:#?}", app.status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn install_crd(ctx: &TestContext) -> anyhow::Result<()> {
    let crds = capstan_testenv::crd_api(&ctx.client);
    let setup = PatchParams::apply("test-setup").force();
    crds.patch(
        "applications.capstan.dev",
        &setup,
        &Patch::Apply(capstan_api::crd::application_crd()),
    )
    .await?;
    Ok(())
}

/// A repository with `files` under `app/`, a Secret `repo` with its credentials in the test's
/// namespace, and a controller for that namespace. Returns the repository, its URL, the first
/// commit, and what stops the controller.
pub async fn repository_and_controller(
    ctx: &TestContext,
    files: &[(&str, &str)],
) -> anyhow::Result<(
    std::path::PathBuf,
    String,
    String,
    tokio::sync::oneshot::Sender<()>,
)> {
    let (repo, url, first) = repository(ctx, files).await?;
    let (_, stop) = controller(ctx, POLL).await?;
    Ok((repo, url, first, stop))
}

/// The Application CRD, a repository with `files` under `app/`, and a Secret `repo` with its
/// credentials in the test's namespace. Returns the repository, its URL and the first commit.
pub async fn repository(
    ctx: &TestContext,
    files: &[(&str, &str)],
) -> anyhow::Result<(std::path::PathBuf, String, String)> {
    let ns = ctx.namespace.clone();
    install_crd(ctx).await?;
    let servers = GitServers::shared().await?;
    let repo_name = format!("{ns}.git");
    let repo = servers.create_repo(&repo_name)?;
    let contents: Vec<(String, Content<'_>)> = files
        .iter()
        .map(|(path, text)| (format!("app/{path}"), Content::File(text)))
        .collect();
    let contents: Vec<(&str, Content<'_>)> =
        contents.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    let first = commit_files(&repo, "main", &contents, "first")?;
    let (user, password) = servers.http_credentials();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "repo"}, "stringData": {"username": user, "password": password}}))?;
    secrets.create(&PostParams::default(), &secret).await?;
    Ok((repo, servers.http_url(&repo_name), first))
}

/// A controller for the test's namespace checking repositories every `poll`. Returns its
/// context and what stops it.
pub async fn controller(
    ctx: &TestContext,
    poll: Duration,
) -> anyhow::Result<(Arc<Context>, tokio::sync::oneshot::Sender<()>)> {
    let ns = ctx.namespace.clone();
    let servers = GitServers::shared().await?;
    let git_dir = servers.dir().join("controller-cache").join(&ns);
    let mut context = Context::new(ctx.client.clone(), git_dir).await?;
    context.poll_interval = poll;
    let admin = kube::config::Kubeconfig::read_from(&ctx.admin_kubeconfig)?;
    let options = kube::config::KubeConfigOptions::default();
    context.impersonation = Some(kube::Config::from_custom_kubeconfig(admin, &options).await?);
    let context = Arc::new(context);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = Arc::clone(&context);
    tokio::spawn(async move {
        reconcile::run(running, Some(&ns), async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok((context, stop))
}

/// An Application `name` in `ns` for the `app` directory of the repository at `url`, with the
/// Secret `repo`, deploying to `ns`, with the given `syncPolicy`.
pub fn application(
    ns: &str,
    name: &str,
    url: &str,
    sync_policy: serde_json::Value,
) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"source": {"repoURL": url, "targetRevision": "main", "path": "app",
                "secretRef": {"name": "repo"}},
            "destination": {"namespace": ns},
            "syncPolicy": sync_policy},
    }))?)
}

/// An automated Application at its first commit, Ready, with `selfHeal` as given.
pub async fn synced_app(
    ctx: &TestContext,
    automated: serde_json::Value,
) -> anyhow::Result<(Api<Application>, tokio::sync::oneshot::Sender<()>)> {
    let ns = ctx.namespace.clone();
    let (_, url, _, stop) =
        repository_and_controller(ctx, &[("settings.yaml", &settings("info"))]).await?;
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
    let app = application(&ns, "web", &url, json!({"automated": automated}))?;
    apps.create(&PostParams::default(), &app).await?;
    until(&apps, "web", "Ready=True", |app| {
        ready(app).is_some_and(|c| c.status == ConditionStatus::True)
    })
    .await?;
    Ok((apps, stop))
}

/// How soon a change to a managed object must show.
pub const DRIFT: Duration = Duration::from_secs(5);

/// Pushes a commit setting the `settings` ConfigMap's `LEVEL` to `level`; returns its SHA.
pub fn push_level(repo: &std::path::Path, level: &str) -> anyhow::Result<String> {
    let text = settings(level);
    commit_files(
        repo,
        "main",
        &[("app/settings.yaml", Content::File(&text))],
        level,
    )
}

/// The count of `capstan_reconciles_total` with `result` in a metrics scrape.
pub fn counted(scrape: &str, result: &str) -> f64 {
    let series = format!("capstan_reconciles_total{{result=\"{result}\"");
    let line = scrape.lines().find(|l| l.starts_with(&series));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Whether `app`'s status compared `sha` last.
pub fn at(app: &Application, sha: &str) -> bool {
    sync(app).and_then(|s| s.revision.as_deref()) == Some(sha)
}
