//! Discovery: which group/version/kinds the cluster serves, as which resource and scope. Built
//! from the API server's aggregated discovery (two requests), and refreshed after CRDs are
//! applied so that a CRD and its custom resources can land in one sync. A long-running process
//! shares one catalog between applications (`SharedCatalog`), refreshed when a kind is missing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use kube::discovery::{ApiResource, Discovery, Scope};
use tokio::sync::RwLock;

use crate::error::ClusterError;

/// The resources the cluster serves. Cloning is cheap: clones share the discovered data until
/// one of them refreshes.
#[derive(Clone)]
pub struct Catalog {
    client: Client,
    /// Each (group, version, kind) the cluster serves, indexed once per discovery: kube's
    /// `Discovery::resolve_gvk` copies every resource of the group version on each call, which
    /// made resolving the objects of every reconcile one of the controller's largest costs.
    index: Arc<HashMap<(String, String, String), Resource>>,
}

/// Where an object lives in the API.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The API resource (group, version, plural).
    pub api: ApiResource,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

impl Catalog {
    /// Discovers the cluster's resources.
    #[tracing::instrument(skip_all)]
    pub async fn discover(client: &Client) -> Result<Catalog, ClusterError> {
        let discovery = Discovery::new(client.clone())
            .run_aggregated()
            .await
            .map_err(ClusterError::Discovery)?;
        Ok(Catalog {
            client: client.clone(),
            index: Arc::new(index(&discovery)),
        })
    }

    /// Discovers again, e.g. after CRDs were established.
    pub async fn refresh(&mut self) -> Result<(), ClusterError> {
        *self = Catalog::discover(&self.client).await?;
        Ok(())
    }

    /// The resource serving `api_version` and `kind`, if the cluster serves it.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<Resource> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        self.index.get(&key).cloned()
    }
}

/// Each (group, version, kind) of `discovery` with its resource: the first resource of that
/// kind in the group version, as `Discovery::resolve_gvk` answers.
fn index(discovery: &Discovery) -> HashMap<(String, String, String), Resource> {
    let mut index = HashMap::new();
    for group in discovery.groups() {
        for version in group.versions() {
            for (api, caps) in group.versioned_resources(version) {
                let key = (
                    group.name().to_owned(),
                    version.to_owned(),
                    api.kind.clone(),
                );
                index.entry(key).or_insert_with(|| Resource {
                    api,
                    namespaced: caps.scope == Scope::Namespaced,
                });
            }
        }
    }
    index
}

/// One discovery catalog shared by every application of a cluster. A kind it does not know is
/// looked up again after a refresh — at most one refresh per `min_interval`, so a manifest with
/// a kind no cluster serves cannot make every reconcile rediscover the API.
#[derive(Clone)]
pub struct SharedCatalog {
    inner: Arc<RwLock<Refreshed>>,
    min_interval: Duration,
}

struct Refreshed {
    catalog: Catalog,
    at: Instant,
    refreshes: u64,
}

impl SharedCatalog {
    /// Discovers the cluster's resources once.
    pub async fn discover(client: &Client, min_interval: Duration) -> Result<Self, ClusterError> {
        let catalog = Catalog::discover(client).await?;
        let inner = Refreshed {
            catalog,
            at: Instant::now(),
            refreshes: 0,
        };
        Ok(SharedCatalog {
            inner: Arc::new(RwLock::new(inner)),
            min_interval,
        })
    }

    /// The resource serving `api_version` and `kind`; on a miss the catalog is refreshed first
    /// (unless it was refreshed less than `min_interval` ago).
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Resource>, ClusterError> {
        if let Some(found) = self.inner.read().await.catalog.resolve(api_version, kind) {
            return Ok(Some(found));
        }
        let mut inner = self.inner.write().await;
        // Another caller may have refreshed while this one waited for the lock.
        if let Some(found) = inner.catalog.resolve(api_version, kind) {
            return Ok(Some(found));
        }
        if inner.at.elapsed() < self.min_interval {
            return Ok(None);
        }
        inner.catalog.refresh().await?;
        inner.at = Instant::now();
        inner.refreshes += 1;
        Ok(inner.catalog.resolve(api_version, kind))
    }

    /// The catalog as it is now, for `prepare`; resolve unknown kinds with
    /// [`SharedCatalog::resolve`] first so that a miss refreshes it.
    pub async fn read(&self) -> tokio::sync::RwLockReadGuard<'_, Catalog> {
        tokio::sync::RwLockReadGuard::map(self.inner.read().await, |r| &r.catalog)
    }

    /// A copy of the catalog as it is now, for a sync that may refresh its own copy (after it
    /// creates CRDs) without holding the shared one.
    pub async fn snapshot(&self) -> Catalog {
        self.inner.read().await.catalog.clone()
    }

    /// How many times a miss refreshed the catalog.
    pub async fn refreshes(&self) -> u64 {
        self.inner.read().await.refreshes
    }
}
