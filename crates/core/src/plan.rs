//! The sync plan, pure: which objects to apply and prune, in which order.
//!
//! Objects are applied wave by wave (`capstan.dev/sync-wave`, an integer, default 0), and
//! inside a wave in steps of one kind rank (Namespaces, then CRDs, ServiceAccounts, roles,
//! bindings, ConfigMaps and Secrets, Services, workloads, everything else, webhooks last), each
//! step in name order; objects of one step may be applied in parallel. Pruning runs in the
//! reverse order: inside its wave after that wave's applies, or — with `PruneLast` — after every
//! wave, highest wave first.

use std::cmp::Reverse;

use capstan_api::SYNC_WAVE_ANNOTATION;
use serde_json::Value;

use crate::diff::DiffState;
use crate::object::{ObjectKey, annotation};
use crate::options::SyncOptions;

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The sync-wave annotation is not an integer.
    #[error("{key}: annotation {SYNC_WAVE_ANNOTATION} must be an integer, got {value:?}")]
    InvalidWave {
        /// The object.
        key: ObjectKey,
        /// The annotation's value.
        value: String,
    },
}

/// The sync wave of `obj`.
pub fn wave_of(obj: &Value, key: &ObjectKey) -> Result<i64, PlanError> {
    match annotation(obj, SYNC_WAVE_ANNOTATION) {
        None => Ok(0),
        Some(value) => value.trim().parse().map_err(|_| PlanError::InvalidWave {
            key: key.clone(),
            value: value.to_owned(),
        }),
    }
}

/// Where a kind is applied inside a wave: lower first.
pub fn kind_rank(key: &ObjectKey) -> u8 {
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Namespace") => 0,
        ("", "ResourceQuota" | "LimitRange") => 1,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 2,
        ("", "ServiceAccount") => 3,
        ("rbac.authorization.k8s.io", "ClusterRole" | "Role") => 4,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding" | "RoleBinding") => 5,
        ("", "ConfigMap" | "Secret") => 6,
        ("storage.k8s.io", "StorageClass") | ("", "PersistentVolume") => 7,
        ("", "PersistentVolumeClaim") => 8,
        ("", "Service") => 9,
        ("apps", "DaemonSet" | "Deployment" | "ReplicaSet" | "StatefulSet")
        | ("", "Pod" | "ReplicationController")
        | ("batch", "Job" | "CronJob") => 10,
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding",
        ) => 12,
        _ => 11,
    }
}

/// The rank after which discovery must be refreshed: CRDs and everything before them.
pub const DISCOVERY_RANK: u8 = 2;

/// One desired object, as the plan sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The object's identity.
    pub key: ObjectKey,
    /// Its wave.
    pub wave: i64,
    /// Its options (the Application's, overridden by its annotation).
    pub options: SyncOptions,
    /// How it compares with the cluster.
    pub state: DiffState,
    /// Whether it is known to be unchanged since it was last applied (its fingerprints match):
    /// then it is not applied again, whatever its options.
    pub known_unchanged: bool,
}

/// One object that left the desired set and is owned by the application.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaving {
    /// The object's identity.
    pub key: ObjectKey,
    /// Its wave, from the live object's annotation.
    pub wave: i64,
    /// Its options, from the live object's annotation over the Application's.
    pub options: SyncOptions,
}

/// One wave of the plan: steps of objects to apply (indexes into the desired list), then
/// objects to prune (indexes into the leaving list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wave {
    /// The wave number.
    pub wave: i64,
    /// Steps applied one after the other; each step holds objects of one kind rank.
    pub apply: Vec<Vec<usize>>,
    /// Objects pruned after the applies of this wave, in order.
    pub prune: Vec<usize>,
    /// Objects of this wave that are not applied (in `Plan::skipped`) but whose health the wave
    /// still waits on before the next one starts.
    pub held: Vec<usize>,
}

/// What one sync does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Waves in ascending order.
    pub waves: Vec<Wave>,
    /// Prunes after every wave (`PruneLast`), in order.
    pub prune_last: Vec<usize>,
    /// Leaving objects kept because of `Prune=false` (indexes into the leaving list).
    pub prune_skipped: Vec<usize>,
    /// Desired objects not applied because they are in sync and either `ApplyOutOfSyncOnly` is
    /// set or they are known unchanged since their last apply.
    pub skipped: Vec<usize>,
}

/// Plans a sync of `desired` that prunes `leaving` (pass an empty list when pruning is off).
pub fn plan(desired: &[Desired], leaving: &[Leaving]) -> Plan {
    let mut out = Plan::default();
    let mut applied: Vec<usize> = Vec::new();
    for (i, object) in desired.iter().enumerate() {
        let skip = object.options.apply_out_of_sync_only || object.known_unchanged;
        if skip && object.state == DiffState::Unchanged {
            out.skipped.push(i);
        } else {
            applied.push(i);
        }
    }
    applied.sort_by(|&a, &b| {
        let (a, b) = (&desired[a], &desired[b]);
        (a.wave, kind_rank(&a.key), &a.key.name, &a.key).cmp(&(
            b.wave,
            kind_rank(&b.key),
            &b.key.name,
            &b.key,
        ))
    });
    let mut pruned: Vec<usize> = Vec::new();
    for (i, object) in leaving.iter().enumerate() {
        if object.options.prune {
            pruned.push(i);
        } else {
            out.prune_skipped.push(i);
        }
    }
    pruned.sort_by_key(|&i| {
        let l = &leaving[i];
        Reverse((l.wave, kind_rank(&l.key), l.key.name.clone(), l.key.clone()))
    });
    for &i in &applied {
        let object = &desired[i];
        let wave = wave_entry(&mut out.waves, object.wave);
        let rank = kind_rank(&object.key);
        match wave.apply.last_mut() {
            Some(step)
                if step
                    .last()
                    .is_some_and(|&j| kind_rank(&desired[j].key) == rank) =>
            {
                step.push(i)
            }
            _ => wave.apply.push(vec![i]),
        }
    }
    for &i in &pruned {
        if leaving[i].options.prune_last {
            out.prune_last.push(i);
        } else {
            wave_entry(&mut out.waves, leaving[i].wave).prune.push(i);
        }
    }
    for &i in &out.skipped {
        wave_entry(&mut out.waves, desired[i].wave).held.push(i);
    }
    out.waves.sort_by_key(|w| w.wave);
    out
}

/// The wave numbered `wave`, added when absent.
fn wave_entry(waves: &mut Vec<Wave>, wave: i64) -> &mut Wave {
    let index = match waves.iter().position(|w| w.wave == wave) {
        Some(index) => index,
        None => {
            waves.push(Wave {
                wave,
                ..Wave::default()
            });
            waves.len() - 1
        }
    };
    &mut waves[index]
}
