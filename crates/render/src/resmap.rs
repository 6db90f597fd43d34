//! The ordered set of resources a build accumulates, with kustomize's identity rules: no two
//! resources may share a current identity, and lookups may match any identity a resource has had.

use std::collections::HashMap;

use crate::error::RenderError;
use crate::resource::{ResId, Resource};

/// Resources in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct ResMap {
    /// The resources.
    pub items: Vec<Resource>,
}

impl ResMap {
    /// Adds a resource; an existing resource with the same current identity is an error.
    pub fn append(&mut self, res: Resource) -> Result<(), RenderError> {
        let id = res.id();
        // Names are nearly unique: compare them before building whole identities.
        if self
            .items
            .iter()
            .any(|r| r.name() == id.name && same_id(&r.id(), &id))
        {
            return Err(RenderError::Conflict { id: id.to_string() });
        }
        self.items.push(res);
        Ok(())
    }

    /// Adds every resource of `other` (in order), with the same check as [`ResMap::append`].
    pub fn append_all(&mut self, other: ResMap) -> Result<(), RenderError> {
        // Index the names once: checking each new resource against every existing one would
        // read every name again for each addition.
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in self.items.iter().enumerate() {
            by_name.entry(r.name().to_string()).or_default().push(i);
        }
        for res in other.items {
            let id = res.id();
            let taken = by_name.get(&id.name).is_some_and(|same_name| {
                same_name.iter().any(|&i| same_id(&self.items[i].id(), &id))
            });
            if taken {
                return Err(RenderError::Conflict { id: id.to_string() });
            }
            by_name.entry(id.name).or_default().push(self.items.len());
            self.items.push(res);
        }
        Ok(())
    }

    /// Indexes of resources any of whose identities (current or previous) equal `id`.
    pub fn matching_any_id(&self, id: &ResId) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, r)| r.had_name(&id.name) && r.all_ids().any(|known| same_id(&known, id)))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Identity equality as kustomize has it: an unset namespace equals `default`, and an unset
/// group or version in `want` matches any.
pub fn same_id(have: &ResId, want: &ResId) -> bool {
    have.gvk.kind == want.gvk.kind
        && have.name == want.name
        && (want.gvk.group.is_empty() && want.gvk.version.is_empty()
            || have.gvk.group == want.gvk.group
                && (want.gvk.version.is_empty() || have.gvk.version == want.gvk.version))
        && have.same_namespace(want)
}
