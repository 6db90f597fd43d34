//! The inventory: which objects an Application applied last time, and from it the prune set.
//!
//! Entries are written `<group>_<version>_<kind>_<namespace>_<name>` (Flux's layout plus the
//! version needed to address the object); `_` cannot occur in any of those parts.

use std::collections::{BTreeMap, BTreeSet};

use crate::object::ObjectKey;

/// Why an inventory could not be read or a prune set could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// A stored entry is not `<group>_<version>_<kind>_<namespace>_<name>`.
    #[error("malformed inventory entry {0:?}")]
    Malformed(String),
    /// The desired set is empty and emptying the application was not allowed.
    #[error(
        "refusing to prune all {0} objects of the application: the desired set is empty \
         (allow it explicitly to empty the application)"
    )]
    EmptyDesiredSet(usize),
}

/// The objects of one application, with the version each was applied with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    entries: BTreeMap<ObjectKey, String>,
}

impl Inventory {
    /// An inventory of `(key, version)` pairs.
    pub fn new(entries: impl IntoIterator<Item = (ObjectKey, String)>) -> Inventory {
        Inventory {
            entries: entries.into_iter().collect(),
        }
    }

    /// Reads stored entries.
    pub fn parse<'a>(
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Inventory, InventoryError> {
        let mut entries = BTreeMap::new();
        for line in lines.into_iter().map(str::trim).filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split('_').collect();
            let [group, version, kind, namespace, name] = parts[..] else {
                return Err(InventoryError::Malformed(line.to_owned()));
            };
            if version.is_empty() || kind.is_empty() || name.is_empty() {
                return Err(InventoryError::Malformed(line.to_owned()));
            }
            let key = ObjectKey {
                group: group.to_owned(),
                kind: kind.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            };
            entries.insert(key, version.to_owned());
        }
        Ok(Inventory { entries })
    }

    /// The stored form, one entry per line, sorted.
    pub fn to_lines(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(k, version)| {
                format!(
                    "{}_{}_{}_{}_{}",
                    k.group, version, k.kind, k.namespace, k.name
                )
            })
            .collect()
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &str)> {
        self.entries.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The objects of this (previous) inventory that are no longer desired: the candidates for
    /// pruning, each still to be checked against its live tracking id. An empty desired set
    /// prunes nothing unless `allow_empty`.
    pub fn prune_candidates(
        &self,
        desired: &BTreeSet<ObjectKey>,
        allow_empty: bool,
    ) -> Result<Vec<(ObjectKey, String)>, InventoryError> {
        if desired.is_empty() && !self.is_empty() && !allow_empty {
            return Err(InventoryError::EmptyDesiredSet(self.len()));
        }
        Ok(self
            .entries
            .iter()
            .filter(|(key, _)| !desired.contains(*key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: if kind == "Deployment" { "apps" } else { "" }.into(),
            kind: kind.into(),
            namespace: "prod".into(),
            name: name.into(),
        }
    }

    #[test]
    fn entries_round_trip_through_their_stored_form() {
        let inventory = Inventory::new([
            (key("Deployment", "web"), "v1".to_owned()),
            (key("ConfigMap", "web.config"), "v1".to_owned()),
        ]);
        let lines = inventory.to_lines();
        assert_eq!(
            lines,
            [
                "_v1_ConfigMap_prod_web.config",
                "apps_v1_Deployment_prod_web"
            ]
        );
        assert_eq!(
            Inventory::parse(lines.iter().map(String::as_str)).unwrap(),
            inventory
        );
        assert_eq!(
            Inventory::parse(["apps_v1_Deployment_web"])
                .unwrap_err()
                .to_string(),
            "malformed inventory entry \"apps_v1_Deployment_web\""
        );
    }

    #[test]
    fn only_objects_that_left_the_desired_set_are_candidates_and_an_empty_set_prunes_nothing() {
        let previous = Inventory::new([
            (key("Deployment", "web"), "v1".to_owned()),
            (key("ConfigMap", "old"), "v1".to_owned()),
        ]);
        let desired = BTreeSet::from([key("Deployment", "web"), key("ConfigMap", "new")]);
        let candidates = previous.prune_candidates(&desired, false).unwrap();
        assert_eq!(candidates, [(key("ConfigMap", "old"), "v1".to_owned())]);
        assert_eq!(
            previous.prune_candidates(&BTreeSet::new(), false),
            Err(InventoryError::EmptyDesiredSet(2))
        );
        assert_eq!(
            previous
                .prune_candidates(&BTreeSet::new(), true)
                .unwrap()
                .len(),
            2
        );
        assert!(
            Inventory::default()
                .prune_candidates(&BTreeSet::new(), false)
                .unwrap()
                .is_empty()
        );
    }
}
