//! Finds the objects a sync may prune: entries of the previous inventory that left the desired
//! set, that still exist, and whose tracking id names this application and this very object.
//! Anything else — another application's object of the same name, an object whose annotation
//! was removed — is never deleted.

use std::collections::BTreeSet;

use capstan_core::inventory::Inventory;
use capstan_core::object::ObjectKey;
use capstan_core::tracking::AppId;
use kube::Client;
use serde_json::Value;

use crate::discovery::{Catalog, Resource};
use crate::error::ClusterError;
use crate::live;

/// A live object, owned by the application, that left the desired set.
#[derive(Debug, Clone)]
pub struct Leaving {
    /// Its identity.
    pub key: ObjectKey,
    /// Where it lives in the API.
    pub resource: Resource,
    /// The live object.
    pub live: Value,
}

/// The live objects of `previous` that are no longer in `desired` and that `app` owns. Refuses
/// (deleting nothing) when the desired set is empty, unless `allow_empty`.
pub async fn leaving(
    client: &Client,
    catalog: &Catalog,
    app: &AppId,
    previous: &Inventory,
    desired: &BTreeSet<ObjectKey>,
    allow_empty: bool,
    parallelism: usize,
) -> Result<Vec<Leaving>, ClusterError> {
    let candidates = previous
        .prune_candidates(desired, allow_empty)
        .map_err(ClusterError::PruneRefused)?;
    let wanted: Vec<(ObjectKey, Resource)> = candidates
        .into_iter()
        .filter_map(|(key, version)| {
            let api_version = match key.group.as_str() {
                "" => version,
                group => format!("{group}/{version}"),
            };
            let resource = catalog.resolve(&api_version, &key.kind)?;
            Some((key, resource))
        })
        .collect();
    let mut found = live::fetch(client, &wanted, parallelism).await?;
    Ok(wanted
        .into_iter()
        .filter_map(|(key, resource)| {
            let live = found.remove(&key)?;
            if !app.owns(&live, &key) {
                tracing::info!(object = %key, "not pruned: its tracking id names another owner");
                return None;
            }
            Some(Leaving {
                key,
                resource,
                live,
            })
        })
        .collect())
}
