//! Two replicas sharing the work: `--shards 2` on two `capstan controller` processes, each
//! holding one shard's Lease, and the time from a commit touching every Application (with the
//! refresh annotation, as the single replica's change phase) to all Synced and Healthy at it.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

use crate::manifests;
use crate::process::{Controller, ControllerArgs, Memory, cpu_seconds};
use crate::setup::{APPS_NAMESPACE, Env};
use crate::watch::{Applications, healthy, synced_at};
use crate::{POLL, phase_timeout};

/// What the two replicas took.
pub struct Sharded {
    /// From the Leases being split to every Application Synced at the new commit.
    pub seconds: f64,
    /// CPU seconds of both replicas in that time.
    pub controller_cpu: f64,
    /// Each replica's peak RSS (MiB): it started with every object already there, as after a
    /// restart (each LISTs them all).
    pub peaks: [f64; 2],
}

/// Starts two replicas with `--shards 2`, waits until each holds one shard and every
/// Application was reconciled by its holder, then commits revision `revision` of one ConfigMap
/// per Application and times the sync of all.
pub async fn change_on_two_replicas(
    env: &Env,
    watch: &mut Applications,
    revision: u32,
) -> anyhow::Result<Sharded> {
    eprintln!("bench: two replicas with --shards 2");
    let replicas = ["a", "b"].map(|name| {
        let (cache, log) = (format!("git-cache-{name}"), format!("replica-{name}.log"));
        let identity = format!("bench-{name}");
        Controller::start(&ControllerArgs {
            kubeconfig: &env.capstan_kubeconfig,
            namespace: APPS_NAMESPACE,
            poll_interval: POLL,
            git_cache: &env.root.join(cache),
            log: &env.root.join(log),
            extra: &["--shards", "2", "--identity", &identity],
        })
    });
    let [a, b] = replicas;
    let replicas = [a?, b?];
    let deadline = tokio::time::Instant::now() + phase_timeout(env.apps);
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), APPS_NAMESPACE);
    let identities = ["bench-a", "bench-b"];
    let mut per_shard = [0.0; 2];
    for i in 0..env.apps {
        let shard = capstan_core::shard::shard_of(APPS_NAMESPACE, &manifests::app_name(i), None, 2);
        per_shard[shard as usize] += 1.0;
    }
    loop {
        let mut holders = Vec::new();
        for shard in 0..2 {
            let name = format!("capstan-controller-shard-{shard}-of-2");
            let lease = leases.get_opt(&name).await?;
            holders.push(lease.and_then(|l| l.spec?.holder_identity));
        }
        // Split, and each holder reconciled at least its shard's Applications since it started
        // (a replica reconciles every Application of a shard it takes).
        let mut ready = holders.iter().all(Option::is_some) && holders[0] != holders[1];
        for (shard, holder) in holders.iter().enumerate() {
            let Some(at) = identities
                .iter()
                .position(|i| Some(*i) == holder.as_deref())
            else {
                ready = false;
                continue;
            };
            let reconciled = replicas[at].reconciles(&["success", "unchanged", "error"])?;
            ready &= reconciled >= per_shard[shard];
        }
        if ready {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the two replicas did not split the shards and reconcile them: holders {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    eprintln!("bench: committing a change and refreshing every Application (two replicas)");
    let cpu = |replicas: &[Controller; 2]| -> anyhow::Result<f64> {
        Ok(cpu_seconds(replicas[0].pid())? + cpu_seconds(replicas[1].pid())?)
    };
    let cpu_before = cpu(&replicas)?;
    let started = Instant::now();
    let commit = env
        .change_and_refresh(revision, "one ConfigMap each, again")
        .await?;
    let what = "every Application Synced at the new commit (two replicas)";
    let deadline = tokio::time::Instant::now() + phase_timeout(env.apps);
    let end = watch
        .until(what, env.apps, deadline, |a| {
            synced_at(a, &commit) && healthy(a)
        })
        .await?;
    let sharded = Sharded {
        seconds: end.duration_since(started).as_secs_f64(),
        controller_cpu: cpu(&replicas)? - cpu_before,
        peaks: [
            Memory::of(replicas[0].pid())?.peak,
            Memory::of(replicas[1].pid())?.peak,
        ],
    };
    for replica in replicas {
        replica.stop()?;
    }
    Ok(sharded)
}
