//! Discovery: which group/version/kinds the cluster serves, as which resource and scope. Built
//! from the API server's aggregated discovery (two requests), and refreshed after CRDs are
//! applied so that a CRD and its custom resources can land in one sync.

use kube::Client;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};

use crate::error::ClusterError;

/// The resources the cluster serves.
pub struct Catalog {
    client: Client,
    discovery: Discovery,
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
            discovery,
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
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        self.discovery
            .resolve_gvk(&gvk)
            .map(|(api, caps): (ApiResource, ApiCapabilities)| Resource {
                api,
                namespaced: caps.scope == Scope::Namespaced,
            })
    }
}
