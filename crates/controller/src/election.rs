//! Leader election and shards over Leases (`coordination.k8s.io/v1`), in one namespace.
//!
//! Each replica keeps a membership Lease of its own (`capstan-controller-member-<identity>`), so
//! every replica sees how many are alive. Each shard has a Lease (`capstan-controller` with one
//! shard; `capstan-controller-shard-<i>-of-<n>` with more), held by at most one replica through
//! kube-lease-manager. A replica contends for the shards [`capstan_core::shard::wanted`] gives it —
//! its fair share, shards staying with live holders — and lets the others go.
//!
//! A held shard's [`Fence`](capstan_cluster::fence::Fence) stays open until a little before the
//! Lease could expire, counted from the last renewal this replica has seen in the Lease watch;
//! a replica that stops renewing (frozen, partitioned) stops writing before another can take
//! the shard over, and letting a shard go cancels its reconciles before the Lease is released.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::shards::Shards;

/// The prefix of every Lease the controller holds.
const PREFIX: &str = "capstan-controller";
/// How often the replica looks again at the Leases it has seen.
const TICK: Duration = Duration::from_millis(250);
/// How long a replica waits, when stopping, for its Leases to be released.
const RELEASE_WAIT: Duration = Duration::from_secs(3);
/// After how many Lease durations an expired membership Lease is deleted.
const STALE_MEMBER: u32 = 20;

/// What one replica needs to take part.
#[derive(Clone)]
pub struct Election {
    /// A client that is not fenced (the Leases are how the fence is kept).
    pub client: kube::Client,
    /// The namespace of the Leases.
    pub namespace: String,
    /// This replica's identity, unique among the replicas (the pod name).
    pub identity: String,
    /// How long a Lease lasts without renewal; another replica may take it after that.
    pub duration: Duration,
    /// The shards, shared with the reconciles.
    pub shards: Arc<Shards>,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("namespace", &self.namespace)
            .field("identity", &self.identity)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// The Lease of shard `shard` among `count`.
pub fn shard_lease(shard: u32, count: u32) -> String {
    if count <= 1 {
        PREFIX.to_owned()
    } else {
        format!("{PREFIX}-shard-{shard}-of-{count}")
    }
}

/// The membership Lease of the replica `identity` (made a valid object name).
pub fn member_lease(identity: &str) -> String {
    let cleaned: String = identity
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    format!("{PREFIX}-member-{}", cleaned.trim_matches(['-', '.']))
}

/// Why the election could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to take part in leader election with Lease {lease} in namespace {namespace}")]
pub struct ElectionError {
    lease: String,
    namespace: String,
    #[source]
    source: LeaseManagerError,
}

struct Contender {
    held: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Election {
    /// Takes part until `shutdown` resolves, then lets every shard go and releases its Leases.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ElectionError> {
        let (leases, writer) = reflector::store();
        let seen = Arc::new(Notify::new());
        let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        let notify = Arc::clone(&seen);
        let watching = tokio::spawn(
            reflector::reflector(writer, watcher(api, watcher::Config::default()))
                .default_backoff()
                .for_each(move |event| {
                    if let Err(error) = event {
                        // Without the watch no shard is ever held: say why (RBAC, most often).
                        tracing::warn!(%error, "cannot watch the Leases");
                    }
                    notify.notify_one();
                    futures::future::ready(())
                }),
        );
        let member = self.contend(&member_lease(&self.identity)).await?;
        let mut contending: BTreeMap<u32, Contender> = BTreeMap::new();
        let mut tick = tokio::time::interval(TICK);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {}
                () = seen.notified() => {}
            }
            self.step(&leases, &mut contending).await;
        }
        for (shard, contender) in std::mem::take(&mut contending) {
            self.shards.set_held(shard, false);
            release(contender).await;
        }
        release(member).await;
        watching.abort();
        Ok(())
    }

    /// One look at the Leases: contend for the shards wanted, let the others go, and keep the
    /// fences of the held ones up to date.
    async fn step(&self, leases: &Store<Lease>, contending: &mut BTreeMap<u32, Contender>) {
        let now = SystemTime::now();
        let state = leases.state();
        let live = |name: &str| {
            state
                .iter()
                .find(|lease| lease.metadata.name.as_deref() == Some(name))
                .and_then(|lease| live_holder(lease, now))
        };
        let members: Vec<String> = state
            .iter()
            .filter(|l| is_member(l))
            .filter_map(|l| live_holder(l, now).map(|(holder, _)| holder))
            .collect();
        let count = self.shards.count();
        let holders: Vec<Option<String>> = (0..count)
            .map(|s| live(&shard_lease(s, count)).map(|(holder, _)| holder))
            .collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let holders_now: Vec<Option<&str>> = holders.iter().map(Option::as_deref).collect();
        let wanted = capstan_core::shard::wanted(&members, &self.identity, &holders_now);
        for shard in contending.keys().copied().collect::<Vec<_>>() {
            if !wanted.contains(&shard)
                && let Some(contender) = contending.remove(&shard)
            {
                // Expired or taken: not a shard this replica gives up, one it no longer has.
                let lost = holders_now[shard as usize] != Some(self.identity.as_str());
                match (self.shards.is_held(shard), lost) {
                    (true, true) => tracing::warn!(shard, "lost the shard's Lease"),
                    (true, false) => tracing::info!(shard, "letting the shard go"),
                    (false, _) => {}
                }
                self.shards.set_held(shard, false);
                // Dropping the receiver makes the manager release the Lease; no need to wait.
                drop(contender.held);
            }
        }
        for shard in &wanted {
            if !contending.contains_key(shard) {
                match self.contend(&shard_lease(*shard, count)).await {
                    Ok(contender) => {
                        contending.insert(*shard, contender);
                    }
                    Err(error) => {
                        tracing::warn!(shard, error = %error_chain(&error), "cannot contend for the shard")
                    }
                }
            }
        }
        for (shard, contender) in contending.iter() {
            let renewed = live(&shard_lease(*shard, count))
                .filter(|(holder, _)| *holder == self.identity)
                .map(|(_, renewed)| renewed);
            let fence = self.shards.fence(*shard);
            match (*contender.held.borrow(), renewed, fence) {
                (true, Some(renewed), Some(fence)) => {
                    fence.open_until(renewed + self.write_window());
                    if !self.shards.is_held(*shard) {
                        tracing::info!(shard, "holding the shard");
                    }
                    self.shards.set_held(*shard, true);
                }
                _ => {
                    if self.shards.is_held(*shard) {
                        tracing::warn!(shard, "lost the shard's Lease");
                    }
                    self.shards.set_held(*shard, false);
                }
            }
        }
        self.forget_stale_members(&state, now).await;
    }

    /// How long after a renewal this replica may write: until half the renewal margin before the
    /// Lease could expire.
    fn write_window(&self) -> Duration {
        self.duration.saturating_sub(self.grace() / 2)
    }

    /// How long before expiry a Lease is renewed.
    fn grace(&self) -> Duration {
        Duration::from_secs((self.duration.as_secs() / 3).max(1))
    }

    async fn contend(&self, lease: &str) -> Result<Contender, ElectionError> {
        let failed = |source| ElectionError {
            lease: lease.to_owned(),
            namespace: self.namespace.clone(),
            source,
        };
        let manager = LeaseManagerBuilder::new(self.client.clone(), lease)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_duration(self.duration.as_secs().max(2))
            .with_grace(self.grace().as_secs())
            .with_field_manager(format!("capstan-{}", member_lease(&self.identity)))
            .build()
            .await
            .map_err(failed)?;
        let (held, task) = manager.watch().await;
        Ok(Contender { held, task })
    }

    /// Deletes membership Leases of replicas gone for a long time (each pod of a Deployment
    /// leaves one behind).
    async fn forget_stale_members(&self, leases: &[Arc<Lease>], now: SystemTime) {
        let stale = self.duration * STALE_MEMBER;
        let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        for lease in leases.iter().filter(|l| is_member(l)) {
            // Last renewed, or made (a Lease is made before it is first held).
            let touched = lease
                .spec
                .as_ref()
                .and_then(|s| s.renew_time.as_ref())
                .map(|t| t.0)
                .or_else(|| lease.metadata.creation_timestamp.as_ref().map(|t| t.0))
                .map(SystemTime::from);
            let gone = touched.is_some_and(|t| now.duration_since(t).is_ok_and(|d| d > stale));
            if let (true, Some(name)) = (gone, lease.metadata.name.as_deref())
                && let Err(error) = api.delete(name, &unchanged_since(lease)).await
            {
                tracing::debug!(lease = name, %error, "cannot delete a stale membership Lease");
            }
        }
    }
}

/// Deletes only the version seen: a replica that renews meanwhile keeps its Lease.
fn unchanged_since(lease: &Lease) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: lease.metadata.resource_version.clone(),
            uid: None,
        }),
        ..DeleteParams::default()
    }
}

fn is_member(lease: &Lease) -> bool {
    lease
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with(&format!("{PREFIX}-member-")))
}

/// The holder of `lease` and when it last renewed, if the Lease has not expired at `now`.
fn live_holder(lease: &Lease, now: SystemTime) -> Option<(String, SystemTime)> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone()?;
    let renewed = SystemTime::from(spec.renew_time.as_ref()?.0);
    let duration = Duration::from_secs(u64::try_from(spec.lease_duration_seconds?).ok()?);
    (renewed + duration > now).then_some((holder, renewed))
}

async fn release(contender: Contender) {
    drop(contender.held);
    let _ = tokio::time::timeout(RELEASE_WAIT, contender.task).await;
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(shard_lease(0, 1), "capstan-controller");
        assert_eq!(shard_lease(2, 3), "capstan-controller-shard-2-of-3");
        assert_eq!(
            member_lease("Capstan_Controller-7d9f:1234"),
            "capstan-controller-member-capstan-controller-7d9f-1234"
        );
        assert!(member_lease(&"x".repeat(400)).len() <= 253);
    }
}
