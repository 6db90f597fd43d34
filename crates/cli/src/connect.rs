//! What the Application commands (`get`, `sync`, `refresh`) share: the cluster connection from
//! `--kubeconfig`/`--context` (read as `capstan diff` and `capstan apply` read them, as kubectl
//! does), the namespace, and reading one Application with kubectl's "not found" wording.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use capstan_api::Application;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The cluster connection and namespace of an Application command.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The namespace (default: the context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
}

/// A connected client and the namespace the command works in.
pub struct Connection {
    /// The API client.
    pub client: kube::Client,
    /// `--namespace`, or the context's namespace.
    pub namespace: String,
}

impl Connection {
    /// The Applications of the command's namespace.
    pub fn applications(&self) -> Api<Application> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Application `name` of the command's namespace; `application NS/NAME not found` when
    /// there is none.
    pub async fn application(&self, name: &str) -> anyhow::Result<Application> {
        match self.applications().get_opt(name).await {
            Ok(Some(app)) => Ok(app),
            Ok(None) => Err(not_found(&self.namespace, name)),
            Err(err) => Err(self.explain(err, name, "read")),
        }
    }

    /// `err`, from trying to `action` the Application `name`, in the user's words: a 404 (the
    /// Application, or the Application resource itself, is missing) says `not found`; anything
    /// else names the action and the Application.
    pub fn explain(&self, err: kube::Error, name: &str, action: &str) -> anyhow::Error {
        match err {
            kube::Error::Api(status) if status.is_not_found() => not_found(&self.namespace, name),
            err => anyhow!(err).context(format!(
                "failed to {action} application {}/{name}",
                self.namespace
            )),
        }
    }
}

/// `application NS/NAME not found`.
fn not_found(namespace: &str, name: &str) -> anyhow::Error {
    anyhow!("application {namespace}/{name} not found")
}

/// Connects as kubectl would: `--kubeconfig` (with `--context`), else `$KUBECONFIG` or
/// `~/.kube/config` with `--context`, else the inferred configuration (kubeconfig, then
/// in-cluster).
pub async fn connect(args: &ConnectArgs) -> anyhow::Result<Connection> {
    let config = load_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).context("failed to create the API client")?;
    Ok(Connection { client, namespace })
}

/// The client configuration of `kubeconfig` (with `context`), as kubectl reads it; shared by
/// every command that talks to a cluster.
pub async fn load_config(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("failed to read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .with_context(|| format!("failed to load kubeconfig {}", path.display()))
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .context("failed to load the kubeconfig"),
        None => kube::Config::infer()
            .await
            .context("failed to find a cluster configuration"),
    }
}

/// The name of the kubeconfig user the chosen context names, when a kubeconfig is in use.
pub fn kubeconfig_user(args: &ConnectArgs) -> Option<String> {
    let file = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let context = args.context.clone().or(file.current_context)?;
    file.contexts
        .into_iter()
        .find(|named| named.name == context)?
        .context?
        .user
        .filter(|user| !user.is_empty())
}
