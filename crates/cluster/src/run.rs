//! What one sync works on, read and decided once at its start: the prepared objects, their live
//! state, how they compare (only when a dry run or `ApplyOutOfSyncOnly` needs it), what left the
//! desired set, and the plan. The stages of the sync (`step`) then act on it without reading it
//! again; the inventory to keep comes from it and the outcome.

use std::collections::{BTreeSet, HashMap};

use capstan_core::diff::DiffState;
use capstan_core::inventory::Inventory;
use capstan_core::object::ObjectKey;
use capstan_core::outcome::{Action, ObjectOutcome};
use capstan_core::plan::{self, Desired, Plan};
use kube::Client;
use serde_json::Value;

use crate::compare::diff_all;
use crate::discovery::Catalog;
use crate::error::ClusterError;
use crate::live;
use crate::prepare::{Prepared, located};
use crate::prune::{self, Departed, Leaving};
use crate::sync::SyncRequest;

/// One sync's objects, live state and plan.
#[derive(Debug, Clone)]
pub struct Run {
    /// What to sync and how.
    pub request: SyncRequest,
    /// The desired objects (kinds a CRD of the set declares are resolved as the sync goes).
    pub prepared: Vec<Prepared>,
    /// The live objects among them, as read at the start.
    pub live: HashMap<ObjectKey, Value>,
    /// How each desired object compares (all `Modified` when no comparison was needed).
    pub states: Vec<DiffState>,
    /// What became of the objects that left the desired set.
    pub departed: Departed,
    /// The plan: waves, steps, prunes.
    pub plan: Plan,
}

impl Run {
    /// Reads what the sync of `prepared` needs and plans it. When pruning, an empty desired set
    /// is refused here (unless allowed), before anything is deleted.
    pub async fn begin(
        client: &Client,
        catalog: &Catalog,
        prepared: Vec<Prepared>,
        previous: &Inventory,
        request: &SyncRequest,
    ) -> Result<Run, ClusterError> {
        let parallelism = request.parallelism.max(1);
        let live = live::fetch(client, &located(&prepared), parallelism).await?;
        let states = states(client, &prepared, &live, request).await?;
        let keys: BTreeSet<ObjectKey> = prepared.iter().map(|p| p.key.clone()).collect();
        if request.prune {
            previous
                .guard_empty(&keys, request.allow_empty)
                .map_err(ClusterError::PruneRefused)?;
        }
        let app = &request.app;
        let departed = prune::departed(client, catalog, app, previous, &keys, parallelism).await?;
        let owned: &[Leaving] = if request.prune { &departed.owned } else { &[] };
        let plan = plan::plan(
            &desired(&prepared, &states),
            &planned_leaving(owned, request)?,
        );
        Ok(Run {
            request: request.clone(),
            prepared,
            live,
            states,
            departed,
            plan,
        })
    }

    /// The owned objects the plan prunes from (none when the sync does not prune).
    pub fn owned(&self) -> &[Leaving] {
        if self.request.prune {
            &self.departed.owned
        } else {
            &[]
        }
    }

    /// Why `key`'s live object must not be applied over: another application owns it.
    pub fn conflict(&self, key: &ObjectKey) -> Option<String> {
        let app = &self.request.app;
        self.live
            .get(key)
            .and_then(|l| app.owner_of(l).conflict(app))
    }

    /// The objects the sync keeps although they left the desired set — `Prune=false`, not
    /// pruning, kind not served — and the desired objects skipped as in sync.
    pub fn kept(&self) -> Vec<ObjectOutcome> {
        let mut out = Vec::new();
        for &i in &self.plan.prune_skipped {
            let key = &self.owned()[i].key;
            out.push(note(key, Action::PruneSkipped, "sync option Prune=false"));
        }
        if !self.request.prune {
            for leaving in &self.departed.owned {
                let why = "it left the desired set; this sync does not prune";
                out.push(note(&leaving.key, Action::PruneRequired, why));
            }
        }
        for key in &self.departed.unresolved {
            let why = "its kind is not served by the cluster; kept in the inventory";
            out.push(note(key, Action::PruneSkipped, why));
        }
        for &i in &self.plan.skipped {
            let key = &self.prepared[i].key;
            out.push(note(key, Action::Unchanged, "in sync, not applied"));
        }
        out
    }

    /// What a real sync would do, from the dry-run comparison.
    pub fn dry_run(&self) -> Vec<ObjectOutcome> {
        let mut out = Vec::new();
        let pruned = |i: &usize| note(&self.owned()[*i].key, Action::Pruned, "dry run");
        for wave in &self.plan.waves {
            for &i in wave.apply.iter().flatten() {
                let key = &self.prepared[i].key;
                let (action, message) = match (self.conflict(key), self.states[i]) {
                    (Some(why), _) => (Action::Failed, format!("{why} (dry run)")),
                    (None, DiffState::Missing) => (Action::Created, "dry run".to_owned()),
                    (None, DiffState::Modified) => (Action::Configured, "dry run".to_owned()),
                    (None, DiffState::Unchanged | DiffState::Prune) => {
                        (Action::Unchanged, "dry run".to_owned())
                    }
                };
                out.push(note(key, action, &message));
            }
            out.extend(wave.prune.iter().map(pruned));
        }
        out.extend(self.plan.prune_last.iter().map(pruned));
        out
    }

    /// The inventory to keep after the sync, whether it finished or stopped: every desired
    /// object, plus every object of `previous` that left the desired set and was neither pruned
    /// (in `outcomes`), nor found gone, nor found owned by something else — so that nothing is
    /// forgotten and a later sync can still prune it.
    pub fn next_inventory(&self, previous: &Inventory, outcomes: &[ObjectOutcome]) -> Inventory {
        let mut forgotten = self.departed.forgotten.clone();
        let pruned = outcomes.iter().filter(|o| o.action == Action::Pruned);
        forgotten.extend(pruned.map(|o| o.key.clone()));
        let versions = self.prepared.iter().map(|p| {
            let version = p.api_version.rsplit('/').next().unwrap_or_default();
            (p.key.clone(), version.to_owned())
        });
        previous.carry_over(versions, &forgotten)
    }
}

/// One object's outcome.
pub(crate) fn note(key: &ObjectKey, action: Action, message: &str) -> ObjectOutcome {
    ObjectOutcome {
        key: key.clone(),
        action,
        message: message.to_owned(),
    }
}

/// How each object compares with the cluster; only computed (by dry-run) when a dry run or
/// `ApplyOutOfSyncOnly` needs it, otherwise every object counts as out of sync.
async fn states(
    client: &Client,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    request: &SyncRequest,
) -> Result<Vec<DiffState>, ClusterError> {
    if request.dry_run || prepared.iter().any(|p| p.options.apply_out_of_sync_only) {
        let diffs = diff_all(client, prepared, live, &request.ignore, request.parallelism).await?;
        Ok(diffs.into_iter().map(|d| d.state).collect())
    } else {
        Ok(vec![DiffState::Modified; prepared.len()])
    }
}

fn desired(prepared: &[Prepared], states: &[DiffState]) -> Vec<Desired> {
    prepared
        .iter()
        .zip(states)
        .map(|(p, &state)| Desired {
            key: p.key.clone(),
            wave: p.wave,
            options: p.options,
            state,
        })
        .collect()
}

fn planned_leaving(
    owned: &[Leaving],
    request: &SyncRequest,
) -> Result<Vec<plan::Leaving>, ClusterError> {
    let invalid = |e: &dyn std::fmt::Display| ClusterError::Invalid(e.to_string());
    owned
        .iter()
        .map(|l| {
            let name = l.key.to_string();
            Ok(plan::Leaving {
                key: l.key.clone(),
                wave: plan::wave_of(&l.live, &l.key).map_err(|e| invalid(&e))?,
                options: request
                    .options
                    .for_object(&l.live, &name)
                    .map_err(|e| invalid(&e))?,
            })
        })
        .collect()
}
