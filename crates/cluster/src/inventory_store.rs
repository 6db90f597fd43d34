//! Where `capstan apply --prune` keeps an application's inventory between runs when there is no
//! Application object: a ConfigMap `capstan-inventory.<name>` in the application's namespace
//! (for application id `<namespace>/<name>`), key `objects`, one entry per line. The
//! controller keeps the same entries in the Application's status instead.

use capstan_api::FIELD_MANAGER;
use capstan_core::inventory::Inventory;
use capstan_core::tracking::AppId;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::error::{ClusterError, is_not_found};

/// The data key holding the entries.
const KEY: &str = "objects";

/// The namespace and name of the ConfigMap holding `app`'s inventory.
pub fn location(app: &AppId) -> (String, String) {
    let (namespace, name) = app
        .as_str()
        .split_once('/')
        .unwrap_or(("default", app.as_str()));
    (namespace.to_owned(), format!("capstan-inventory.{name}"))
}

/// Reads `app`'s inventory; empty when none was stored.
pub async fn load(client: &Client, app: &AppId) -> Result<Inventory, ClusterError> {
    let (namespace, name) = location(app);
    let error = |source: Box<dyn std::error::Error + Send + Sync>| ClusterError::Inventory {
        action: "read",
        name: format!("{namespace}/{name}"),
        source,
    };
    let stored = match Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .get(&name)
        .await
    {
        Ok(map) => map,
        Err(err) if is_not_found(&err) => return Ok(Inventory::default()),
        Err(err) => return Err(error(Box::new(err))),
    };
    let text = stored
        .data
        .and_then(|mut d| d.remove(KEY))
        .unwrap_or_default();
    Inventory::parse(text.lines()).map_err(|e| error(Box::new(e)))
}

/// Stores `app`'s inventory.
pub async fn save(client: &Client, app: &AppId, inventory: &Inventory) -> Result<(), ClusterError> {
    let (namespace, name) = location(app);
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "capstan"},
        },
        "data": {KEY: inventory.to_lines().join("\n")},
    });
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(|source| ClusterError::Inventory {
            action: "write",
            name: format!("{namespace}/{name}"),
            source: Box::new(source),
        })
}
