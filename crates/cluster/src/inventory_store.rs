//! Where `capstan apply --prune` keeps an application's inventory between runs when there is no
//! Application object: a ConfigMap `capstan-inventory.<app-namespace>.<app-name>` in the
//! destination namespace (which the apply itself may have created), key `objects`, one entry per
//! line. The controller keeps the same entries in the Application's status instead.

use capstan_api::FIELD_MANAGER;
use capstan_core::inventory::Inventory;
use capstan_core::tracking::AppId;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::error::{ClusterError, api_message, is_not_found};

/// The data key holding the entries.
const KEY: &str = "objects";

/// The name of the ConfigMap holding `app`'s inventory.
pub fn name(app: &AppId) -> String {
    format!("capstan-inventory.{}", app.as_str().replace('/', "."))
}

/// Reads `app`'s inventory in `namespace`; empty when none was stored.
pub async fn load(
    client: &Client,
    app: &AppId,
    namespace: &str,
) -> Result<Inventory, ClusterError> {
    let name = name(app);
    let error = |message: String| ClusterError::Inventory {
        action: "read",
        name: format!("{namespace}/{name}"),
        source: message.into(),
    };
    let stored = match Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get(&name)
        .await
    {
        Ok(map) => map,
        Err(err) if is_not_found(&err) => return Ok(Inventory::default()),
        Err(err) => return Err(error(api_message(&err))),
    };
    let text = stored
        .data
        .and_then(|mut d| d.remove(KEY))
        .unwrap_or_default();
    Inventory::parse(text.lines()).map_err(|e| error(e.to_string()))
}

/// Stores `app`'s inventory in `namespace`.
pub async fn save(
    client: &Client,
    app: &AppId,
    namespace: &str,
    inventory: &Inventory,
) -> Result<(), ClusterError> {
    let name = name(app);
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
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
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
            source: api_message(&source).into(),
        })
}
