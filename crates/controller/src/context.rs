//! What every reconcile shares: the controller's client, the git cache, the shared watch caches
//! of live objects and the shared discovery catalog of the cluster.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::recorder::Recorder;
use capstan_cluster::SharedCatalog;
use capstan_cluster::live_cache::LiveCache;
use capstan_git::{Activity, CacheLimits, Credentials, RepoCache, TrustedKeys};
use kube::Client;

use crate::metrics::Metrics;

/// The git cache's limits (size, timeouts, shallow first fetches), for the binary's flags.
pub use capstan_git::CacheLimits as GitLimits;

/// How long a shared discovery catalog waits before a miss may refresh it again.
const CATALOG_REFRESH: Duration = Duration::from_secs(30);

/// The shared state of one controller process.
pub struct Context {
    /// The controller's client.
    pub client: Client,
    /// The git cache, shared by every Application.
    pub git: RepoCache,
    /// Live objects, shared by every Application.
    pub live: LiveCache,
    /// The cluster's resources, shared by every Application.
    pub catalog: SharedCatalog,
    /// How many API requests one reconcile makes at once.
    pub parallelism: usize,
    /// What the controller counts, served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Publishes Events about Applications.
    pub recorder: Recorder,
    /// How often each repository in use is checked for new commits.
    pub poll_interval: Duration,
    /// The configuration the writing clients are made from, impersonating the service account an
    /// Application names (`destination.serviceAccountName`, else `default_service_account`).
    /// `None`: every write is made with `client`.
    pub impersonation: Option<kube::Config>,
    /// The service account (in the Application's namespace) writes are made as when the
    /// Application names none; `None`: the controller's own identity.
    pub default_service_account: Option<String>,
    /// Wakes the Applications of a repository and branch (for a webhook receiver); set once the
    /// controller runs.
    pub refresher: std::sync::OnceLock<crate::refresh::Refresher>,
    /// The sync requests already run, so a stale read does not run one twice.
    pub requests: crate::requests::Requests,
    /// What each Application last asked for, to tell a fresh look at the source from a
    /// periodic re-compare.
    pub refreshes: Arc<crate::requests::Refreshes>,
    /// The last render of each (repository, path), so an unchanged commit is rendered once.
    pub renders: crate::source::Renders,
    /// The inputs of each Application's last compare that found everything Synced.
    pub quiet: crate::quiet::Quiet,
    /// The other clusters Applications deploy to (`destination.kubeConfigSecretRef`).
    pub remotes: crate::clusters::Remotes,
    /// The shards this replica reconciles (all of them without leader election).
    pub shards: Arc<crate::shards::Shards>,
    /// Source credentials by Secret (namespace, name), read once and forgotten when the Secret
    /// changes (the controller watches Secrets), so a reconcile does not read its Secret again.
    credentials: std::sync::Mutex<std::collections::HashMap<(String, String), Credentials>>,
    /// Trusted keys by Secret (namespace, name), read once and forgotten when the Secret changes.
    trusted: std::sync::Mutex<std::collections::HashMap<(String, String), TrustedKeys>>,
    writers: std::sync::Mutex<std::collections::HashMap<String, Client>>,
    /// The Applications not reconciled here whose kinds the caches were asked to watch, with the
    /// synced revision they were warmed at.
    warmed: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    /// The credentials read from Secret `name` in `namespace`, if they are known and the Secret
    /// has not changed since.
    pub fn known_credentials(&self, namespace: &str, name: &str) -> Option<Credentials> {
        let key = (namespace.to_owned(), name.to_owned());
        self.lock_credentials().get(&key).cloned()
    }

    /// Keeps the credentials read from Secret `name` in `namespace`.
    pub fn keep_credentials(&self, namespace: &str, name: &str, credentials: &Credentials) {
        let key = (namespace.to_owned(), name.to_owned());
        self.lock_credentials().insert(key, credentials.clone());
    }

    /// Forgets what was read from Secret `name` in `namespace` — credentials, trusted keys, the
    /// cluster its kubeconfig names: it changed or was deleted.
    pub fn forget_secret(&self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        let credentials = self.lock_credentials().remove(&key).is_some();
        let keys = self
            .trusted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key)
            .is_some();
        let cluster = self.remotes.forget(namespace, name);
        // What was read from it may differ now: every Application compares in full once.
        if credentials || keys || cluster {
            self.quiet.clear();
        }
    }

    /// The trusted keys read from Secret `name` in `namespace`, if known and unchanged since.
    pub fn known_trusted_keys(&self, namespace: &str, name: &str) -> Option<TrustedKeys> {
        let key = (namespace.to_owned(), name.to_owned());
        let trusted = self
            .trusted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        trusted.get(&key).cloned()
    }

    /// Keeps the trusted keys read from Secret `name` in `namespace`.
    pub fn keep_trusted_keys(&self, namespace: &str, name: &str, keys: &TrustedKeys) {
        let key = (namespace.to_owned(), name.to_owned());
        self.trusted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, keys.clone());
    }

    fn lock_credentials(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), Credentials>> {
        self.credentials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A context for `client`'s cluster, keeping git repositories under `git_dir`.
    pub async fn new(
        client: Client,
        git_dir: impl Into<PathBuf>,
    ) -> Result<Context, capstan_cluster::ClusterError> {
        Context::with_git_limits(client, git_dir, CacheLimits::default()).await
    }

    /// A context whose git cache keeps to `limits` (e.g. shallow first fetches).
    pub async fn with_git_limits(
        client: Client,
        git_dir: impl Into<PathBuf>,
        limits: CacheLimits,
    ) -> Result<Context, capstan_cluster::ClusterError> {
        let catalog = SharedCatalog::discover(&client, CATALOG_REFRESH).await?;
        let metrics = Arc::new(Metrics::new());
        let git = RepoCache::new(git_dir, limits);
        let counted = Arc::clone(&metrics);
        git.observe(Arc::new(move |activity, result| match activity {
            Activity::Check => counted.record_git_check(result),
            Activity::Fetch => counted.record_git_fetch(result),
        }));
        Ok(Context {
            git,
            live: LiveCache::new(client.clone()),
            catalog,
            client: client.clone(),
            parallelism: 16,
            metrics,
            recorder: Recorder::new(client.clone()),
            poll_interval: crate::poll::DEFAULT_INTERVAL,
            impersonation: None,
            default_service_account: None,
            refresher: std::sync::OnceLock::new(),
            requests: crate::requests::Requests::default(),
            refreshes: Arc::default(),
            renders: crate::source::Renders::default(),
            quiet: crate::quiet::Quiet::default(),
            shards: crate::shards::Shards::all(),
            remotes: crate::clusters::Remotes::new(tokio::sync::broadcast::channel(1024).0),
            credentials: std::sync::Mutex::default(),
            trusted: std::sync::Mutex::default(),
            writers: std::sync::Mutex::default(),
            warmed: std::sync::Mutex::default(),
        })
    }

    /// Whether Application `id`, synced at `revision`, is to be warmed now: the first time it is
    /// asked at that revision, and again after `warm_failed(id)`.
    pub fn to_warm(&self, id: &str, revision: &str) -> bool {
        let warmed = self.warmed.lock();
        let before = warmed
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), revision.to_owned());
        before.as_deref() != Some(revision)
    }

    /// Records that warming `id` failed, so that it is tried again.
    pub fn warm_failed(&self, id: &str) {
        let warmed = self.warmed.lock();
        warmed
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    /// The client that writes `namespace`'s Application's objects: one impersonating
    /// `service_account` (cached per identity), or the controller's own when none is named or no
    /// impersonation is configured.
    pub fn writer(
        &self,
        namespace: &str,
        service_account: Option<&str>,
    ) -> Result<Client, kube::Error> {
        let account = service_account.or(self.default_service_account.as_deref());
        let (Some(account), Some(base)) = (account, &self.impersonation) else {
            return Ok(self.client.clone());
        };
        let user = format!("system:serviceaccount:{namespace}:{account}");
        let mut writers = self
            .writers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = writers.get(&user) {
            return Ok(client.clone());
        }
        let mut config = base.clone();
        // No groups: the API server adds a service account's own groups itself, and impersonating
        // groups would need a right that cannot be narrowed (it reaches `system:masters`).
        config.auth_info.impersonate = Some(user.clone());
        // Its writes obey the fence of the reconcile that makes them.
        let client = capstan_cluster::fence::client(config)?;
        writers.insert(user, client.clone());
        Ok(client)
    }
}
