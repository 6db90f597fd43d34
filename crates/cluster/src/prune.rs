//! What became of the objects of the previous inventory that left the desired set: those that
//! still exist and whose tracking id names this application and this very object may be pruned
//! (and are reported as requiring prune until they are); those that are gone, or whose tracking
//! id names something else, are forgotten — another application's object of the same name, or an
//! object whose annotation was removed, is never deleted; entries whose kind the cluster no
//! longer serves are kept, with a warning.

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

/// The objects of the previous inventory that left the desired set, by what can be done.
#[derive(Debug, Clone, Default)]
pub struct Departed {
    /// Live and owned: pruned by a sync that prunes, reported as requiring prune otherwise.
    pub owned: Vec<Leaving>,
    /// Gone, or no longer owned by the application: dropped from the next inventory.
    pub forgotten: BTreeSet<ObjectKey>,
    /// Their kind is not served by the cluster: kept in the inventory, with a warning.
    pub unresolved: Vec<ObjectKey>,
}

/// Sorts the objects of `previous` that are no longer in `desired` (see [`Departed`]).
pub async fn departed(
    client: &Client,
    catalog: &Catalog,
    app: &AppId,
    previous: &Inventory,
    desired: &BTreeSet<ObjectKey>,
    parallelism: usize,
) -> Result<Departed, ClusterError> {
    let mut out = Departed::default();
    let mut wanted: Vec<(ObjectKey, Resource)> = Vec::new();
    for (key, version) in previous.departed(desired) {
        let api_version = key.api_version(&version);
        match catalog.resolve(&api_version, &key.kind) {
            Some(resource) => wanted.push((key, resource)),
            None => {
                tracing::warn!(object = %key, %api_version, "kept in the inventory: its kind is not served by the cluster");
                out.unresolved.push(key);
            }
        }
    }
    let mut found = live::fetch(client, &wanted, parallelism).await?;
    for (key, resource) in wanted {
        match found.remove(&key) {
            Some(live) if app.owns(&live, &key) => out.owned.push(Leaving {
                key,
                resource,
                live,
            }),
            Some(_) => {
                tracing::info!(object = %key, "forgotten, not pruned: its tracking id names another owner");
                out.forgotten.insert(key);
            }
            None => {
                out.forgotten.insert(key);
            }
        }
    }
    Ok(out)
}
