//! Destination clusters: the one the controller runs in, and the others Applications name with
//! `destination.kubeConfigSecretRef` — a Secret in the Application's namespace whose `value`
//! holds a kubeconfig. Each other cluster gets its own fenced client, shared watch caches and
//! discovery catalog, made on first use and shared by every Application naming the same Secret;
//! a change to the Secret (the controller watches Secrets) forgets them, so the next reconcile
//! connects anew. Writes there are made as the Application's service account by impersonation,
//! as they are here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use capstan_api::application::Application;
use capstan_cluster::SharedCatalog;
use capstan_cluster::live_cache::LiveCache;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::broadcast;

use crate::context::Context;

/// How long a remote cluster's discovery catalog waits before a miss may refresh it again.
const CATALOG_REFRESH: Duration = Duration::from_secs(30);
/// The Secret key holding the kubeconfig.
pub const KUBECONFIG_KEY: &str = "value";

/// Where an Application's objects live.
pub enum Cluster<'a> {
    /// The cluster the controller runs in.
    Local(&'a Context),
    /// Another cluster.
    Remote(Arc<Remote>),
}

impl Cluster<'_> {
    /// The cluster's shared watch caches.
    pub fn live(&self) -> &LiveCache {
        match self {
            Cluster::Local(ctx) => &ctx.live,
            Cluster::Remote(remote) => &remote.live,
        }
    }

    /// The cluster's discovery catalog.
    pub fn catalog(&self) -> &SharedCatalog {
        match self {
            Cluster::Local(ctx) => &ctx.catalog,
            Cluster::Remote(remote) => &remote.catalog,
        }
    }

    /// The client that writes `namespace`'s Application's objects there: as `service_account`
    /// (else the controller's default deployer) when the controller impersonates, else with the
    /// cluster's own client.
    pub fn writer(
        &self,
        ctx: &Context,
        namespace: &str,
        service_account: Option<&str>,
    ) -> Result<kube::Client, kube::Error> {
        match self {
            Cluster::Local(ctx) => ctx.writer(namespace, service_account),
            Cluster::Remote(remote) => {
                let account = service_account.or(ctx.default_service_account.as_deref());
                match (account, ctx.impersonation.is_some()) {
                    (Some(account), true) => remote.impersonating(namespace, account),
                    _ => Ok(remote.client.clone()),
                }
            }
        }
    }
}

/// Another cluster: its client, caches and catalog.
pub struct Remote {
    client: kube::Client,
    config: kube::Config,
    /// Its shared watch caches.
    pub live: LiveCache,
    /// Its discovery catalog.
    pub catalog: SharedCatalog,
    writers: Mutex<HashMap<String, kube::Client>>,
    forwarding: tokio::task::JoinHandle<()>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.forwarding.abort();
    }
}

impl Remote {
    fn impersonating(&self, namespace: &str, account: &str) -> Result<kube::Client, kube::Error> {
        let user = format!("system:serviceaccount:{namespace}:{account}");
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = writers.get(&user) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.clone());
        let client = capstan_cluster::fence::client(config)?;
        writers.insert(user, client.clone());
        Ok(client)
    }
}

/// Why another cluster cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The Secret cannot be read, or has no kubeconfig.
    #[error("destination.kubeConfigSecretRef: Secret {namespace}/{name}: {why}")]
    Secret {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The cluster could not be reached or its resources not discovered.
    #[error("destination cluster of Secret {namespace}/{name}: {source}")]
    Discovery {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The discovery error.
        #[source]
        source: capstan_cluster::ClusterError,
    },
}

/// The other clusters in use, by the Secret that names them.
#[derive(Default)]
pub struct Remotes {
    by_secret: Mutex<HashMap<(String, String), Arc<Remote>>>,
    changes: Option<broadcast::Sender<String>>,
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remotes").finish_non_exhaustive()
    }
}

impl Remotes {
    /// No other cluster yet; their caches' changes are announced on `changes`.
    pub fn new(changes: broadcast::Sender<String>) -> Remotes {
        Remotes {
            by_secret: Mutex::default(),
            changes: Some(changes),
        }
    }

    /// The application ids whose objects changed in any other cluster, as they happen.
    pub fn changes(&self) -> Option<broadcast::Receiver<String>> {
        self.changes.as_ref().map(broadcast::Sender::subscribe)
    }

    /// Forgets the cluster of Secret `namespace/name`: it changed or was deleted.
    /// Forgets the cluster of Secret `namespace/name`; whether one was known.
    pub fn forget(&self, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_owned(), name.to_owned());
        self.lock().remove(&key).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Remote>>> {
        self.by_secret
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cluster of Secret `namespace/name`, connecting on first use (the Secret read with
    /// `client`).
    pub async fn get(
        &self,
        client: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Remote>, RemoteError> {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(remote) = self.lock().get(&key) {
            return Ok(Arc::clone(remote));
        }
        let remote = Arc::new(self.connect(client, namespace, name).await?);
        self.lock().insert(key, Arc::clone(&remote));
        Ok(remote)
    }

    async fn connect(
        &self,
        client: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Remote, RemoteError> {
        let bad = |why: String| RemoteError::Secret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            why,
        };
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = secrets
            .get_opt(name)
            .await
            .map_err(|err| bad(format!("cannot be read: {err}")))?
            .ok_or_else(|| bad("not found".to_owned()))?;
        let value = secret
            .data
            .as_ref()
            .and_then(|data| data.get(KUBECONFIG_KEY))
            .ok_or_else(|| bad(format!("has no key `{KUBECONFIG_KEY}`")))?;
        let text = std::str::from_utf8(&value.0)
            .map_err(|_| bad(format!("key `{KUBECONFIG_KEY}` is not UTF-8 text")))?;
        // The kubeconfig's own error names only its structure, never a credential.
        let kubeconfig = Kubeconfig::from_yaml(text)
            .map_err(|err| bad(format!("key `{KUBECONFIG_KEY}` is not a kubeconfig: {err}")))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|err| bad(format!("key `{KUBECONFIG_KEY}` cannot be used: {err}")))?;
        let remote = capstan_cluster::fence::client(config.clone())
            .map_err(|err| bad(format!("no client can be made from it: {err}")))?;
        let catalog = SharedCatalog::discover(&remote, CATALOG_REFRESH)
            .await
            .map_err(|source| RemoteError::Discovery {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                source,
            })?;
        let live = LiveCache::new(remote.clone());
        let forwarding = match &self.changes {
            Some(changes) => tokio::spawn(forward(live.changes(), changes.clone())),
            None => tokio::spawn(async {}),
        };
        Ok(Remote {
            client: remote,
            config,
            live,
            catalog,
            writers: Mutex::default(),
            forwarding,
        })
    }
}

/// Passes a cluster's change notices on to the controller's.
async fn forward(mut from: broadcast::Receiver<String>, to: broadcast::Sender<String>) {
    loop {
        match from.recv().await {
            Ok(app) => {
                let _ = to.send(app);
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The Secret naming `app`'s destination cluster, when it names one other than this.
pub fn secret_of(app: &Application) -> Option<&str> {
    let secret = app.spec.destination.kube_config_secret_ref.as_ref()?;
    Some(secret.name.as_str())
}
