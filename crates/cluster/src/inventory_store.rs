//! Where `capstan apply --prune` keeps an application's inventory between runs when there is no
//! Application object: a ConfigMap `capstan-inventory.<app-namespace>.<app-name>` in the
//! destination namespace (which the apply itself may have created), key `entries`: a JSON array
//! of structured entries, so every valid name round-trips. The controller keeps the same entries
//! in the Application's status instead.

use capstan_api::{FIELD_MANAGER, InventoryEntry};
use capstan_core::inventory::{Inventory, InventoryError};
use capstan_core::tracking::AppId;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::error::{ClusterError, InventoryAction, InventoryFailure, is_not_found};

/// The data key holding the entries.
const KEY: &str = "entries";

/// The key of the first releases, one `<group>_<version>_<kind>_<namespace>_<name>` line per
/// object: read when `entries` is absent (names with `_` could not be stored there), never
/// written; the next save replaces it.
const LEGACY_KEY: &str = "objects";

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
    let error = |source: InventoryFailure| ClusterError::Inventory {
        action: InventoryAction::Read,
        name: format!("{namespace}/{name}"),
        source,
    };
    let stored = match Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get(&name)
        .await
    {
        Ok(map) => map,
        Err(err) if is_not_found(&err) => return Ok(Inventory::default()),
        Err(err) => return Err(error(InventoryFailure::Api(err))),
    };
    let mut data = stored.data.unwrap_or_default();
    let parsed = match (data.remove(KEY), data.remove(LEGACY_KEY)) {
        (Some(text), _) => Inventory::parse(&text),
        (None, Some(lines)) => legacy(&lines),
        (None, None) => Ok(Inventory::default()),
    };
    parsed.map_err(|e| error(e.into()))
}

/// Reads the first releases' line format.
fn legacy(lines: &str) -> Result<Inventory, InventoryError> {
    let entries = lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| match line.split('_').collect::<Vec<_>>()[..] {
            [group, version, kind, namespace, name] => Ok(InventoryEntry {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: kind.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                applied: None,
            }),
            _ => Err(InventoryError::Malformed(format!("entry {line:?}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Inventory::from_entries(entries)
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
        "data": {KEY: inventory.to_stored()},
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
            action: InventoryAction::Write,
            name: format!("{namespace}/{name}"),
            source: InventoryFailure::Api(source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_releases_line_format_is_still_read() {
        let inventory = legacy("apps_v1_Deployment_prod_web\n_v1_Namespace__prod\n").unwrap();
        let names: Vec<String> = inventory.entries().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["prod", "web"]);
        assert!(matches!(
            legacy("apps_v1_Deployment_web"),
            Err(InventoryError::Malformed(_))
        ));
    }
}
