//! The stored forms of `status.resources` and `status.inventory`: grouped by group, version,
//! kind and namespace, so those four are written once per group rather than once per object,
//! and fingerprints as base64 rather than hex. Rust code sees flat lists
//! ([`ResourceStatus`], [`InventoryEntry`]); only serde sees these forms.
//!
//! Why: stored flat, with hex fingerprints, a 5,000-object Application's resources and inventory
//! take about 2.1 MB of JSON, past what etcd takes (1.5 MiB by default) and past the 1 MiB we
//! allow a status. Grouped, with parallel `names` and `applied` lists in the inventory and the
//! fingerprints in base64, they take about 0.9 MB (the size test in `application/tests.rs`).
//!
//! Stored order is by group, version, kind and namespace (sorted), then the order given.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::ResourceStatus;
use crate::{AppliedFingerprints, HealthStatus, InventoryEntry, SyncStatus};

/// The key objects are grouped by: group, version, kind, namespace.
type GroupKey = (String, String, String, String);

/// Resources of one group, version, kind and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// The API group; absent for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The API version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The namespace; absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The objects.
    pub objects: Vec<ResourceObject>,
}

/// The state of one object of a [`ResourceGroup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceObject {
    /// The name.
    pub name: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: SyncStatus,
    /// Its health; absent for kinds that have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// The object left the desired set and was not pruned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
}

/// Inventory objects of one group, version, kind and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryGroup {
    /// The API group; absent for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The version the objects were applied with.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The namespace; absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The objects' names.
    pub names: Vec<String>,
    /// Fingerprints of each object's last apply, in the order of `names`:
    /// `<desired>.<live>`, each the SHA-256 in unpadded base64url; empty when not known (and
    /// always for Secrets). Absent when no object of the group has any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<String>,
}

/// Groups `items` by their key, keeping the given order inside a group.
fn group_by<T>(items: &[T], key: impl Fn(&T) -> GroupKey) -> BTreeMap<GroupKey, Vec<&T>> {
    let mut groups: BTreeMap<GroupKey, Vec<&T>> = BTreeMap::new();
    for item in items {
        groups.entry(key(item)).or_default().push(item);
    }
    groups
}

/// `#[serde(with)]` for `status.resources`.
pub(crate) mod grouped_resources {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::*;

    /// Writes the grouped form.
    pub fn serialize<S: Serializer>(
        resources: &[ResourceStatus],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let groups: Vec<ResourceGroup> = group_by(resources, |r| {
            (
                r.group.clone(),
                r.version.clone(),
                r.kind.clone(),
                r.namespace.clone(),
            )
        })
        .into_iter()
        .map(
            |((group, version, kind, namespace), objects)| ResourceGroup {
                group,
                version,
                kind,
                namespace,
                objects: objects
                    .into_iter()
                    .map(|r| ResourceObject {
                        name: r.name.clone(),
                        status: r.status,
                        health: r.health,
                        requires_pruning: r.requires_pruning,
                    })
                    .collect(),
            },
        )
        .collect();
        groups.serialize(serializer)
    }

    /// Reads the grouped form.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ResourceStatus>, D::Error> {
        let groups = Vec::<ResourceGroup>::deserialize(deserializer)?;
        Ok(groups
            .into_iter()
            .flat_map(|g| {
                g.objects.into_iter().map(move |o| ResourceStatus {
                    group: g.group.clone(),
                    version: g.version.clone(),
                    kind: g.kind.clone(),
                    namespace: g.namespace.clone(),
                    name: o.name,
                    status: o.status,
                    health: o.health,
                    requires_pruning: o.requires_pruning,
                })
            })
            .collect())
    }
}

/// `#[serde(with)]` for `status.inventory`.
pub(crate) mod grouped_inventory {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::*;

    /// Writes the grouped form.
    pub fn serialize<S: Serializer>(
        entries: &[InventoryEntry],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut groups = Vec::new();
        let grouped = group_by(entries, |e| {
            (
                e.group.clone(),
                e.version.clone(),
                e.kind.clone(),
                e.namespace.clone(),
            )
        });
        for ((group, version, kind, namespace), objects) in grouped {
            let mut applied = Vec::with_capacity(objects.len());
            for entry in &objects {
                applied.push(match &entry.applied {
                    Some(fingerprints) => pack(fingerprints).map_err(S::Error::custom)?,
                    None => String::new(),
                });
            }
            if applied.iter().all(String::is_empty) {
                applied.clear();
            }
            groups.push(InventoryGroup {
                group,
                version,
                kind,
                namespace,
                names: objects.iter().map(|e| e.name.clone()).collect(),
                applied,
            });
        }
        groups.serialize(serializer)
    }

    /// Reads the grouped form.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<InventoryEntry>, D::Error> {
        let mut entries = Vec::new();
        for group in Vec::<InventoryGroup>::deserialize(deserializer)? {
            if !group.applied.is_empty() && group.applied.len() != group.names.len() {
                return Err(D::Error::custom(format!(
                    "inventory group {}/{} has {} names but {} fingerprints",
                    group.kind,
                    group.namespace,
                    group.names.len(),
                    group.applied.len()
                )));
            }
            for (index, name) in group.names.into_iter().enumerate() {
                let applied = match group.applied.get(index).map(String::as_str) {
                    None | Some("") => None,
                    Some(packed) => Some(unpack(packed).map_err(D::Error::custom)?),
                };
                entries.push(InventoryEntry {
                    group: group.group.clone(),
                    version: group.version.clone(),
                    kind: group.kind.clone(),
                    namespace: group.namespace.clone(),
                    name,
                    applied,
                });
            }
        }
        Ok(entries)
    }
}

/// `<desired>.<live>`, each hex SHA-256 re-encoded as unpadded base64url.
fn pack(fingerprints: &AppliedFingerprints) -> Result<String, String> {
    let encode = |hex: &str| -> Result<String, String> {
        let bytes = from_hex(hex).ok_or_else(|| format!("fingerprint {hex:?} is not hex"))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    };
    Ok(format!(
        "{}.{}",
        encode(&fingerprints.desired)?,
        encode(&fingerprints.live)?
    ))
}

/// The inverse of [`pack`].
fn unpack(packed: &str) -> Result<AppliedFingerprints, String> {
    let decode = |text: &str| -> Result<String, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|err| format!("fingerprint {text:?} is not base64url: {err}"))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    };
    let (desired, live) = packed
        .split_once('.')
        .ok_or_else(|| format!("fingerprints {packed:?} are not <desired>.<live>"))?;
    Ok(AppliedFingerprints {
        desired: decode(desired)?,
        live: decode(live)?,
    })
}

/// The bytes of a lowercase-hex string of even length.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2)
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}
