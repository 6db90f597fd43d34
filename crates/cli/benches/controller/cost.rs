//! What a phase cost: its time, the CPU seconds of the controller, of kube-apiserver + etcd and
//! of the workload tier (`/proc/PID/stat`), the controller's requests from the audit log by verb
//! and resource, its dry-runs by object, and which status fields its status writes changed.

use std::time::Instant;

use anyhow::Context;
use capstan_testenv::AuditMark;

use crate::process::cpu_seconds;
use crate::setup::{CAPSTAN_USER, Env};
use crate::watch::{Applications, dry_runs_by_object, requests_by_kind};

/// The processes whose CPU the summary reports, beside the controller.
const SERVER: [&str; 2] = ["kube-apiserver", "etcd"];
const WORKLOAD_TIER: [&str; 3] = ["kube-controller-manager", "kube-scheduler", "kwok"];

/// CPU seconds used so far by the control plane's processes `names`.
fn cpu_of(env: &Env, names: &[&str]) -> anyhow::Result<f64> {
    names.iter().try_fold(0.0, |sum, name| {
        let pid = env.plane.pid(name).with_context(|| format!("no {name}"))?;
        Ok(sum + cpu_seconds(pid)?)
    })
}

fn is_lease(event: &capstan_testenv::AuditEvent) -> bool {
    event
        .object_ref
        .as_ref()
        .and_then(|o| o.resource.as_deref())
        == Some("leases")
}

/// A phase's cost: elapsed time, CPU of the controller, the API server + etcd and the workload
/// tier, and the controller's requests.
pub struct Cost {
    pub seconds: f64,
    pub controller_cpu: f64,
    pub server_cpu: f64,
    pub workload_cpu: f64,
    pub requests: Vec<(String, usize)>,
    pub dry_runs: Vec<(String, usize)>,
    /// Writes other than the leader election's Lease renewals.
    pub writes: usize,
    /// Writes to Leases: the controller renews its shard and member Leases (leader election is
    /// on, as installed), which is its heartbeat, not work on Applications.
    pub lease_writes: usize,
    /// Which fields the controller's status writes changed.
    pub status_changes: Vec<(String, usize)>,
}

/// Where a phase started: the clock, CPU counters and the audit log.
pub struct Start {
    pub at: Instant,
    controller: f64,
    server: f64,
    workloads: f64,
    mark: AuditMark,
}

impl Start {
    pub fn now(env: &Env, controller: Option<u32>) -> anyhow::Result<Self> {
        Ok(Start {
            controller: controller.map_or(Ok(0.0), cpu_seconds)?,
            server: cpu_of(env, &SERVER)?,
            workloads: cpu_of(env, &WORKLOAD_TIER)?,
            mark: env.plane.audit()?.mark(),
            at: Instant::now(),
        })
    }

    pub fn cost(
        self,
        env: &Env,
        controller: Option<u32>,
        end: Instant,
        watch: Option<&mut Applications>,
    ) -> anyhow::Result<Cost> {
        let audit = env.plane.audit()?.since(self.mark).by_user(CAPSTAN_USER);
        Ok(Cost {
            seconds: end.duration_since(self.at).as_secs_f64(),
            controller_cpu: controller.map_or(Ok(0.0), cpu_seconds)? - self.controller,
            server_cpu: cpu_of(env, &SERVER)? - self.server,
            workload_cpu: cpu_of(env, &WORKLOAD_TIER)? - self.workloads,
            writes: audit.count(|e| e.is_write() && !is_lease(e)),
            lease_writes: audit.count(|e| e.is_write() && is_lease(e)),
            requests: requests_by_kind(&audit),
            dry_runs: dry_runs_by_object(&audit),
            status_changes: watch.map(Applications::take_changes).unwrap_or_default(),
        })
    }
}
