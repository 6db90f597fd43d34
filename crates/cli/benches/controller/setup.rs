//! What the benchmark runs on: a control plane with the workload tier, the git servers with one
//! repository holding every Application's directory, the Application CRD, the namespaces, the
//! one Secret every Application's source names (HTTPS basic auth and the server's CA), and the
//! identity the controller runs as.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capstan_api::application::Application;
use capstan_testenv::{Content, ControlPlane, GitServers, Tier, commit_files};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::manifests;

/// The namespace of the Applications and their Secret.
pub const APPS_NAMESPACE: &str = "capstan";
/// Where Capstan's Applications put their objects.
pub const CAPSTAN_TARGET: &str = "apps-capstan";
/// Where kubectl puts the same objects.
pub const KUBECTL_TARGET: &str = "apps-kubectl";
/// The Secret with the repository's credentials, shared by every Application.
pub const SECRET: &str = "repo";
/// The user the controller runs as (a client certificate in `system:masters`).
pub const CAPSTAN_USER: &str = "capstan-bench";
/// The repository's name on the git server.
const REPO: &str = "bench.git";

/// The running environment.
pub struct Env {
    pub plane: ControlPlane,
    /// Kept running for the controller; stopped when dropped.
    pub _servers: GitServers,
    pub client: kube::Client,
    pub repo: PathBuf,
    pub url: String,
    pub first: String,
    pub capstan_kubeconfig: PathBuf,
    pub root: PathBuf,
    /// How many Applications the run creates.
    pub apps: usize,
}

impl Env {
    /// An environment for `apps` Applications.
    pub async fn start(apps: usize) -> anyhow::Result<Self> {
        let plane = ControlPlane::start(Tier::Workloads)
            .await
            .context("starting the control plane")?;
        let client = plane.client().await?;
        let servers = GitServers::start()
            .await
            .context("starting the git servers")?;
        let repo = servers.create_repo(REPO)?;
        let files = manifests::all_files(apps, 1);
        let first = commit(&repo, &files, &format!("{apps} applications"))?;
        install_crd(&client).await?;
        for ns in [APPS_NAMESPACE, CAPSTAN_TARGET, KUBECTL_TARGET] {
            let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &namespace)
                .await
                .with_context(|| format!("creating namespace {ns}"))?;
        }
        let (user, password) = servers.http_credentials();
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": SECRET},
            "stringData": {"username": user, "password": password, "ca.crt": servers.ca_cert()},
        }))?;
        Api::<Secret>::namespaced(client.clone(), APPS_NAMESPACE)
            .create(&PostParams::default(), &secret)
            .await
            .context("creating the repository Secret")?;
        let capstan_kubeconfig = plane.identity(CAPSTAN_USER, Some("system:masters"))?;
        let root = std::env::temp_dir().join(format!(
            "capstan-bench-controller-{}-{apps}",
            std::process::id()
        ));
        std::fs::create_dir_all(&root)?;
        manifests::write_tree(&root.join("tree"), &files)?;
        Ok(Env {
            url: servers.https_url(REPO),
            plane,
            _servers: servers,
            client,
            repo,
            first,
            capstan_kubeconfig,
            root,
            apps,
        })
    }

    /// The Applications' API.
    pub fn applications(&self) -> Api<Application> {
        Api::namespaced(self.client.clone(), APPS_NAMESPACE)
    }

    /// Commits `revision` of one ConfigMap per Application (`message`) and sets the refresh
    /// annotation on every Application; returns the commit.
    pub async fn change_and_refresh(&self, revision: u32, message: &str) -> anyhow::Result<String> {
        let files = manifests::changed_files(self.apps, revision);
        let commit = commit(&self.repo, &files, message)?;
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch = json!({"metadata": {"annotations": {capstan_api::REFRESH_ANNOTATION: now}}});
        let apps = self.applications();
        futures::future::try_join_all((0..self.apps).map(|i| {
            let (apps, patch, name) = (apps.clone(), &patch, manifests::app_name(i));
            async move {
                let params = PatchParams::default();
                anyhow::Ok(apps.patch(&name, &params, &Patch::Merge(patch)).await?)
            }
        }))
        .await?;
        Ok(commit)
    }

    /// Application `i`, automated with prune, refreshed every `refresh`.
    pub fn application(&self, i: usize, refresh: &str) -> anyhow::Result<Application> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": manifests::app_name(i), "namespace": APPS_NAMESPACE},
            "spec": {
                "source": {"repoURL": self.url, "targetRevision": "main",
                    "path": manifests::app_path(i), "secretRef": {"name": SECRET}},
                "destination": {"namespace": CAPSTAN_TARGET},
                "syncPolicy": {"automated": {"prune": true}},
                "refreshInterval": refresh,
            },
        }))?)
    }
}

/// Commits `files` on `main` and returns the commit.
pub fn commit(
    repo: &std::path::Path,
    files: &[(String, String)],
    message: &str,
) -> anyhow::Result<String> {
    let contents: Vec<(&str, Content<'_>)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), Content::File(text)))
        .collect();
    commit_files(repo, "main", &contents, message)
}

/// Installs the Application CRD and waits until Applications can be listed.
async fn install_crd(client: &kube::Client) -> anyhow::Result<()> {
    capstan_testenv::crd_api(client)
        .patch(
            "applications.capstan.dev",
            &PatchParams::apply("bench-setup").force(),
            &Patch::Apply(capstan_api::crd::application_crd()),
        )
        .await
        .context("installing the Application CRD")?;
    let apps: Api<Application> = Api::namespaced(client.clone(), APPS_NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(30);
    while apps.list(&ListParams::default()).await.is_err() {
        if Instant::now() > deadline {
            bail!("the Application CRD was not served within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
