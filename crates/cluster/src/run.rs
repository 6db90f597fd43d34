//! What one sync works on, read and decided once at its start: the prepared objects, their live
//! state, how they compare (only when a dry run or `ApplyOutOfSyncOnly` needs it), what left the
//! desired set, and the plan. The stages of the sync (`step`) then act on it without reading it
//! again; the inventory to keep comes from it and the outcome.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use capstan_api::{AppliedFingerprints, Reason};
use capstan_core::diff::DiffState;
use capstan_core::fingerprint;
use capstan_core::inventory::{Inventory, Record};
use capstan_core::object::ObjectKey;
use capstan_core::outcome::{Action, ObjectOutcome};
use capstan_core::plan::{self, Desired, Plan};
use kube::Client;
use serde_json::Value;

use crate::compare::{Compared, Comparison, body, compare_all};
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
    /// How each desired object compares: by fingerprint, and by dry-run when a dry run or
    /// `ApplyOutOfSyncOnly` needs it; `Modified` for what is not known.
    pub states: Vec<DiffState>,
    /// The fingerprints of what is applied and in sync, by object: from the previous inventory
    /// for objects known unchanged, from the comparison, and from the applies of this sync.
    pub fingerprints: BTreeMap<ObjectKey, AppliedFingerprints>,
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
        let (states, fingerprints) = states(client, &prepared, &live, previous, request).await?;
        let keys: BTreeSet<ObjectKey> = prepared.iter().map(|p| p.key.clone()).collect();
        if request.prune {
            previous
                .guard_empty(&keys, request.allow_empty)
                .map_err(ClusterError::PruneRefused)?;
        }
        let app = &request.app;
        let departed = prune::departed(client, catalog, app, previous, &keys, parallelism).await?;
        Run::plan(prepared, live, (states, fingerprints), departed, request)
    }

    /// Plans a sync from a compare already made — a controller's reconcile compares once (live
    /// objects from the shared caches, `compare::compare_app`) and syncs from that, reading and
    /// dry-running nothing again. When pruning, an empty desired set is refused here.
    pub fn from_comparison(
        prepared: Vec<Prepared>,
        live: HashMap<ObjectKey, Value>,
        comparison: Comparison,
        previous: &Inventory,
        request: &SyncRequest,
    ) -> Result<Run, ClusterError> {
        let keys: BTreeSet<ObjectKey> = prepared.iter().map(|p| p.key.clone()).collect();
        if request.prune {
            previous
                .guard_empty(&keys, request.allow_empty)
                .map_err(ClusterError::PruneRefused)?;
        }
        let states = split(comparison.compared);
        Run::plan(prepared, live, states, comparison.departed, request)
    }

    fn plan(
        prepared: Vec<Prepared>,
        live: HashMap<ObjectKey, Value>,
        (states, fingerprints): (Vec<DiffState>, BTreeMap<ObjectKey, AppliedFingerprints>),
        departed: Departed,
        request: &SyncRequest,
    ) -> Result<Run, ClusterError> {
        let owned: &[Leaving] = if request.prune { &departed.owned } else { &[] };
        let plan = plan::plan(
            &desired(&prepared, &states, &fingerprints),
            &planned_leaving(owned, request)?,
        );
        Ok(Run {
            request: request.clone(),
            prepared,
            live,
            states,
            fingerprints,
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
            let kept = note(key, Action::PruneSkipped, "sync option Prune=false");
            out.push(kept.because(Reason::PruneDisabled));
        }
        if !self.request.prune {
            for leaving in &self.departed.owned {
                let why = "it left the desired set; this sync does not prune";
                out.push(note(&leaving.key, Action::PruneRequired, why));
            }
        }
        for key in &self.departed.unresolved {
            let why = "its kind is not served by the cluster; kept in the inventory";
            out.push(note(key, Action::PruneSkipped, why).because(Reason::UnknownKind));
        }
        for &i in &self.plan.skipped {
            let object = &self.prepared[i];
            let why = if object.options.apply_out_of_sync_only {
                "in sync, not applied"
            } else {
                ""
            };
            out.push(note(&object.key, Action::Unchanged, why));
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
                let outcome = match (self.conflict(key), self.states[i]) {
                    (Some(why), _) => ObjectOutcome::failed(
                        key,
                        Reason::OwnedByOtherApplication,
                        &format!("{why} (dry run)"),
                    ),
                    (None, DiffState::Missing) => note(key, Action::Created, "dry run"),
                    (None, DiffState::Modified) => note(key, Action::Configured, "dry run"),
                    (None, DiffState::Unchanged | DiffState::Prune) => {
                        note(key, Action::Unchanged, "dry run")
                    }
                };
                out.push(outcome);
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
    /// Each desired object carries the fingerprints of its last apply when it is known to be in
    /// sync (see `fingerprints`).
    pub fn next_inventory(&self, previous: &Inventory, outcomes: &[ObjectOutcome]) -> Inventory {
        let mut forgotten = self.departed.forgotten.clone();
        let pruned = outcomes.iter().filter(|o| o.action == Action::Pruned);
        forgotten.extend(pruned.map(|o| o.key.clone()));
        let records = self.prepared.iter().map(|p| {
            let record = Record {
                version: p.version().to_owned(),
                applied: self.fingerprints.get(&p.key).cloned(),
            };
            (p.key.clone(), record)
        });
        previous.carry_over(records, &forgotten)
    }
}

/// One object's outcome, without a reason.
pub(crate) fn note(key: &ObjectKey, action: Action, message: &str) -> ObjectOutcome {
    ObjectOutcome::new(key, action, message)
}

/// How each object compares with the cluster, and the fingerprints of those in sync. Objects
/// whose fingerprints match the previous inventory's are unchanged without any call; the others
/// are dry-run only when a dry run or `ApplyOutOfSyncOnly` needs it, and otherwise count as out
/// of sync (they are applied).
async fn states(
    client: &Client,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    previous: &Inventory,
    request: &SyncRequest,
) -> Result<(Vec<DiffState>, BTreeMap<ObjectKey, AppliedFingerprints>), ClusterError> {
    let rules = &request.ignore;
    if request.dry_run || prepared.iter().any(|p| p.options.apply_out_of_sync_only) {
        let n = request.parallelism;
        let compared = compare_all(client, prepared, live, rules, previous, n).await?;
        return Ok(split(compared));
    }
    let mut fingerprints = BTreeMap::new();
    let states = prepared
        .iter()
        .map(|object| {
            let key = &object.key;
            let known = previous.applied(key);
            let unchanged = live.get(key).is_some_and(|live| {
                let body = body(object, Some(live), rules);
                fingerprint::unchanged(key, known, &body, live)
            });
            match known {
                Some(known) if unchanged => {
                    fingerprints.insert(key.clone(), known.clone());
                    DiffState::Unchanged
                }
                _ => DiffState::Modified,
            }
        })
        .collect();
    Ok((states, fingerprints))
}

/// The states of compared objects, and the fingerprints of those in sync.
fn split(compared: Vec<Compared>) -> (Vec<DiffState>, BTreeMap<ObjectKey, AppliedFingerprints>) {
    let mut fingerprints = BTreeMap::new();
    let states = compared
        .into_iter()
        .map(|c| {
            if let Some(known) = c.in_sync {
                fingerprints.insert(c.diff.key.clone(), known);
            }
            c.diff.state
        })
        .collect();
    (states, fingerprints)
}

fn desired(
    prepared: &[Prepared],
    states: &[DiffState],
    fingerprints: &BTreeMap<ObjectKey, AppliedFingerprints>,
) -> Vec<Desired> {
    prepared
        .iter()
        .zip(states)
        .map(|(p, &state)| Desired {
            key: p.key.clone(),
            wave: p.wave,
            options: p.options,
            state,
            known_unchanged: state == DiffState::Unchanged && fingerprints.contains_key(&p.key),
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
