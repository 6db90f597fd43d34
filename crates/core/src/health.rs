//! Health of live objects: one rule per kind (see `health/`), a generic kstatus rule for every
//! other kind, and worst-of aggregation.
//!
//! The statuses and their meanings are the ones Argo CD users know (`HealthStatus`); the rules
//! read only the object itself, never its children or the clock. `assess` never panics and never
//! returns `Missing`: a caller that cannot find an object decides that it is missing. A field of
//! the wrong type makes the object's health `Unknown`, with a message naming the field.
//! `docs/health.md` describes every rule for users.

mod apiservice;
mod crd;
mod cronjob;
mod daemonset;
mod deployment;
mod fields;
mod hpa;
mod ingress;
mod job;
mod kstatus;
mod pod;
mod pvc;
mod replicaset;
mod service;
mod statefulset;

use capstan_api::HealthStatus;
use serde_json::Value;

use fields::{Invalid, Read};

/// The assessed health of one object: a status and a short message for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// How healthy the object is.
    pub status: HealthStatus,
    /// Why, in a few lowercase words (empty when there is nothing worth saying).
    pub message: String,
}

impl Health {
    /// A health with the given status and message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
        }
    }
}

/// Assesses the health of a live object, dispatching on its API group and kind.
///
/// Kinds without a rule of their own follow the generic kstatus rule (conditions `Stalled`,
/// `Reconciling`, `Ready`, `Available` and `status.observedGeneration`). An object being deleted
/// is `Progressing`. An object whose fields have the wrong type is `Unknown`.
pub fn assess(obj: &Value) -> Health {
    assess_checked(obj).unwrap_or_else(|invalid| unknown(invalid.to_string()))
}

/// The worst of the given statuses in Argo CD's order (`Healthy < Suspended < Progressing <
/// Missing < Degraded < Unknown`); `Healthy` when there is none.
pub fn worst<I: IntoIterator<Item = HealthStatus>>(statuses: I) -> HealthStatus {
    statuses.into_iter().max().unwrap_or(HealthStatus::Healthy)
}

/// The rule for one kind: the object in, its health out, or the field that had the wrong type.
type Rule = fn(&Value) -> Read<Health>;

fn assess_checked(obj: &Value) -> Read<Health> {
    if !obj.is_object() {
        return Err(Invalid::new(&[], "a mapping"));
    }
    if let Some(health) = terminating(obj)? {
        return Ok(health);
    }
    let api_version = fields::string(obj, &["apiVersion"])?.unwrap_or_default();
    let kind = fields::string(obj, &["kind"])?.unwrap_or_default();
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(group, _version)| group);
    rule_for(group, kind)(obj)
}

/// The rule for an API group and kind; the generic kstatus rule when no kind-specific one exists.
fn rule_for(group: &str, kind: &str) -> Rule {
    match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment::assess,
        ("apps" | "extensions", "DaemonSet") => daemonset::assess,
        ("apps" | "extensions", "ReplicaSet") => replicaset::assess,
        ("apps", "StatefulSet") => statefulset::assess,
        ("", "Pod") => pod::assess,
        ("", "Service") => service::assess,
        ("", "PersistentVolumeClaim") => pvc::assess,
        ("batch", "Job") => job::assess,
        ("batch", "CronJob") => cronjob::assess,
        ("networking.k8s.io" | "extensions", "Ingress") => ingress::assess,
        ("autoscaling", "HorizontalPodAutoscaler") => hpa::assess,
        ("apiregistration.k8s.io", "APIService") => apiservice::assess,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::assess,
        _ => kstatus::assess,
    }
}

/// `Progressing` for any object whose deletion was requested, naming the finalizers it waits on.
fn terminating(obj: &Value) -> Read<Option<Health>> {
    if fields::string(obj, &["metadata", "deletionTimestamp"])?.is_none() {
        return Ok(None);
    }
    let finalizers = fields::strings(obj, &["metadata", "finalizers"])?;
    let message = if finalizers.is_empty() {
        "terminating".to_string()
    } else {
        format!(
            "terminating: waiting for finalizers {}",
            finalizers.join(", ")
        )
    };
    Ok(Some(progressing(message)))
}

fn healthy(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Healthy, message)
}

fn suspended(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Suspended, message)
}

fn progressing(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Progressing, message)
}

fn degraded(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Degraded, message)
}

fn unknown(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Unknown, message)
}

/// Whether a workload's pods are replaced only when deleted by hand (`updateStrategy.type:
/// OnDelete`), so that old pods are expected and not a rollout in progress.
fn updates_on_delete(obj: &Value) -> Read<bool> {
    Ok(fields::string(obj, &["spec", "updateStrategy", "type"])? == Some("OnDelete"))
}

/// How messages explain an `OnDelete` workload's old pods.
const ON_DELETE_NOTE: &str = "(OnDelete: old pods are replaced when deleted)";

/// `Progressing` when the controller has not yet observed the object's latest generation.
///
/// `required` says whether a missing `status.observedGeneration` counts as not observed (true
/// for the built-in workload controllers, which always report it) or as nothing to compare
/// (false for the generic rule, since many controllers never report it).
fn generation_pending(obj: &Value, required: bool) -> Read<Option<Health>> {
    let generation = fields::int(obj, &["metadata", "generation"])?;
    let observed = fields::int(obj, &["status", "observedGeneration"])?;
    let pending = match (generation, observed) {
        (Some(generation), Some(observed)) => observed < generation,
        (Some(_), None) => required,
        (None, _) => false,
    };
    Ok(pending.then(|| {
        let generation = generation.unwrap_or_default();
        let observed = observed.map_or_else(|| "none".to_string(), |o| o.to_string());
        progressing(format!(
            "waiting for the controller to observe generation {generation} (observed {observed})"
        ))
    }))
}
