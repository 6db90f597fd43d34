//! The inventory: which objects an Application applied and has not yet seen pruned or gone, and
//! from it what left the desired set.
//!
//! Entries are structured ([`InventoryEntry`]), stored as a JSON array, so that every valid
//! identity round-trips. An object that left the desired set stays in the inventory until it is
//! pruned, found gone, or found owned by something else; one whose kind the cluster no longer
//! serves stays too. The inventory never forgets an object it may still have to prune.

use std::collections::{BTreeMap, BTreeSet};

use capstan_api::{AppliedFingerprints, InventoryEntry};

use crate::object::ObjectKey;

/// Why an inventory could not be read or a prune set could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// The stored form is not a list of entries.
    #[error("malformed inventory: {0}")]
    Malformed(String),
    /// An entry lacks its version, kind or name.
    #[error("malformed inventory entry {0:?}: version, kind and name are required")]
    Incomplete(String),
    /// The desired set is empty and emptying the application was not allowed.
    #[error(
        "refusing to prune all {0} objects of the application: the desired set is empty \
         (allow it explicitly to empty the application)"
    )]
    EmptyDesiredSet(usize),
}

/// The objects of one application, with the version each was applied with and, when known,
/// the fingerprints of its last apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    entries: BTreeMap<ObjectKey, Record>,
}

/// What the inventory knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The version it was applied with.
    pub version: String,
    /// The fingerprints of its last apply (see `fingerprint`).
    pub applied: Option<AppliedFingerprints>,
}

impl Record {
    /// A record of `version` without fingerprints.
    pub fn version(version: impl Into<String>) -> Record {
        Record {
            version: version.into(),
            applied: None,
        }
    }
}

impl Inventory {
    /// An inventory of `(key, version)` pairs, without fingerprints.
    pub fn new(entries: impl IntoIterator<Item = (ObjectKey, String)>) -> Inventory {
        Inventory::of_records(entries.into_iter().map(|(k, v)| (k, Record::version(v))))
    }

    /// An inventory of `(key, record)` pairs.
    pub fn of_records(entries: impl IntoIterator<Item = (ObjectKey, Record)>) -> Inventory {
        Inventory {
            entries: entries.into_iter().collect(),
        }
    }

    /// Whether the inventory tracks `key`.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.entries.contains_key(key)
    }

    /// The fingerprints of `key`'s last apply, when known.
    pub fn applied(&self, key: &ObjectKey) -> Option<&AppliedFingerprints> {
        self.entries.get(key).and_then(|r| r.applied.as_ref())
    }

    /// An inventory of structured entries; each needs a version, a kind and a name.
    pub fn from_entries(
        entries: impl IntoIterator<Item = InventoryEntry>,
    ) -> Result<Inventory, InventoryError> {
        let mut out = BTreeMap::new();
        for entry in entries {
            if entry.version.is_empty() || entry.kind.is_empty() || entry.name.is_empty() {
                return Err(InventoryError::Incomplete(format!("{entry:?}")));
            }
            let key = ObjectKey {
                group: entry.group,
                kind: entry.kind,
                namespace: entry.namespace,
                name: entry.name,
            };
            let record = Record {
                version: entry.version,
                applied: entry.applied,
            };
            out.insert(key, record);
        }
        Ok(Inventory { entries: out })
    }

    /// The structured entries, sorted by key.
    pub fn entries(&self) -> Vec<InventoryEntry> {
        self.entries
            .iter()
            .map(|(k, record)| InventoryEntry {
                group: k.group.clone(),
                version: record.version.clone(),
                kind: k.kind.clone(),
                namespace: k.namespace.clone(),
                name: k.name.clone(),
                applied: record.applied.clone(),
            })
            .collect()
    }

    /// Reads the stored form: a JSON array of entries.
    pub fn parse(stored: &str) -> Result<Inventory, InventoryError> {
        let entries: Vec<InventoryEntry> =
            serde_json::from_str(stored).map_err(|e| InventoryError::Malformed(e.to_string()))?;
        Inventory::from_entries(entries)
    }

    /// The stored form: a JSON array of entries, sorted, one per line.
    pub fn to_stored(&self) -> String {
        let lines: Vec<String> = self
            .entries()
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .collect();
        format!("[{}]", lines.join(",\n"))
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &str)> {
        self.entries.iter().map(|(k, r)| (k, r.version.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The objects of this (previous) inventory that are no longer desired, with their versions:
    /// what may have to be pruned, each still to be checked against its live tracking id.
    pub fn departed(&self, desired: &BTreeSet<ObjectKey>) -> Vec<(ObjectKey, String)> {
        self.entries
            .iter()
            .filter(|(key, _)| !desired.contains(*key))
            .map(|(k, r)| (k.clone(), r.version.clone()))
            .collect()
    }

    /// Refuses to prune from an empty desired set — everything — unless `allow_empty`.
    pub fn guard_empty(
        &self,
        desired: &BTreeSet<ObjectKey>,
        allow_empty: bool,
    ) -> Result<(), InventoryError> {
        if desired.is_empty() && !self.is_empty() && !allow_empty {
            return Err(InventoryError::EmptyDesiredSet(self.len()));
        }
        Ok(())
    }

    /// The inventory after a sync: the `desired` objects (with the versions and fingerprints
    /// they were applied with), plus every object of this inventory that left the desired set
    /// and was not `forgotten` — pruned, found gone, or found owned by something else.
    pub fn carry_over(
        &self,
        desired: impl IntoIterator<Item = (ObjectKey, Record)>,
        forgotten: &BTreeSet<ObjectKey>,
    ) -> Inventory {
        let mut next: BTreeMap<ObjectKey, Record> = desired.into_iter().collect();
        for (key, record) in &self.entries {
            if !forgotten.contains(key) && !next.contains_key(key) {
                next.insert(key.clone(), record.clone());
            }
        }
        Inventory { entries: next }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: if kind == "Deployment" { "apps" } else { "" }.into(),
            kind: kind.into(),
            namespace: "prod".into(),
            name: name.into(),
        }
    }

    fn entries(keys: &[ObjectKey]) -> Vec<(ObjectKey, String)> {
        keys.iter().map(|k| (k.clone(), "v1".to_owned())).collect()
    }

    /// Regression: entries were joined with `_` and split on it, so a Role named
    /// `read_configmaps` made the next apply fail with "malformed inventory entry".
    #[test]
    fn names_with_underscores_and_colons_round_trip_through_the_stored_form() {
        let role = ObjectKey {
            group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            namespace: "prod".into(),
            name: "read_configmaps".into(),
        };
        let cluster_role = ObjectKey {
            namespace: String::new(),
            kind: "ClusterRole".into(),
            name: "system:capstan:read_all".into(),
            ..role.clone()
        };
        let inventory = Inventory::new(entries(&[role, cluster_role, key("ConfigMap", "web")]));
        let stored = inventory.to_stored();
        assert_eq!(Inventory::parse(&stored).unwrap(), inventory, "{stored}");
    }

    #[test]
    fn the_stored_form_leaves_out_empty_group_and_namespace_and_refuses_incomplete_entries() {
        let cluster_scoped = ObjectKey {
            group: String::new(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: "prod".into(),
        };
        let stored = Inventory::new(entries(&[cluster_scoped])).to_stored();
        assert_eq!(
            stored,
            r#"[{"version":"v1","kind":"Namespace","name":"prod"}]"#
        );
        assert!(matches!(
            Inventory::parse(r#"[{"version":"v1","kind":"ConfigMap","name":""}]"#),
            Err(InventoryError::Incomplete(_))
        ));
        assert!(matches!(
            Inventory::parse("apps_v1_Deployment_prod_web"),
            Err(InventoryError::Malformed(_))
        ));
    }

    /// Any name the API server accepts as a path segment: no `/`, not `.` or `..`.
    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.:@+=~%-]{1,40}"
            .prop_filter("not a relative path segment", |n| n != "." && n != "..")
    }

    fn object_key() -> impl Strategy<Value = ObjectKey> {
        (
            prop_oneof![Just(String::new()), "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?"],
            "[A-Z][A-Za-z0-9]{0,20}",
            prop_oneof![Just(String::new()), "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"],
            name(),
        )
            .prop_map(|(group, kind, namespace, name)| ObjectKey {
                group,
                kind,
                namespace,
                name,
            })
    }

    proptest! {
        #[test]
        fn every_valid_identity_round_trips_through_the_stored_form(
            objects in proptest::collection::vec((object_key(), "v[0-9]((alpha|beta)[0-9])?"), 0..20)
        ) {
            let inventory = Inventory::new(objects);
            let stored = inventory.to_stored();
            prop_assert_eq!(Inventory::parse(&stored).unwrap(), inventory);
        }
    }

    #[test]
    fn only_objects_that_left_the_desired_set_departed_and_an_empty_set_prunes_nothing() {
        let previous = Inventory::new(entries(&[
            key("Deployment", "web"),
            key("ConfigMap", "old"),
        ]));
        let desired = BTreeSet::from([key("Deployment", "web"), key("ConfigMap", "new")]);
        assert_eq!(
            previous.departed(&desired),
            entries(&[key("ConfigMap", "old")])
        );
        assert!(previous.guard_empty(&desired, false).is_ok());
        assert_eq!(
            previous.guard_empty(&BTreeSet::new(), false),
            Err(InventoryError::EmptyDesiredSet(2))
        );
        assert!(previous.guard_empty(&BTreeSet::new(), true).is_ok());
        assert!(
            Inventory::default()
                .guard_empty(&BTreeSet::new(), false)
                .is_ok()
        );
    }

    /// Regression: without `--prune` the next inventory kept only the desired set, so an object
    /// that left the repository was orphaned and no later prune or diff saw it.
    #[test]
    fn objects_that_left_stay_in_the_inventory_until_forgotten() {
        let (web, old, gone) = (
            key("Deployment", "web"),
            key("ConfigMap", "old"),
            key("ConfigMap", "gone"),
        );
        let previous = Inventory::new(entries(&[web.clone(), old.clone(), gone.clone()]));
        let new = key("ConfigMap", "new");
        let desired = entries(&[web.clone(), new.clone()])
            .into_iter()
            .map(|(k, v)| (k, Record::version(v)));
        let next = previous.carry_over(desired, &BTreeSet::from([gone.clone()]));
        assert_eq!(next, Inventory::new(entries(&[web, new, old])));
    }
}
