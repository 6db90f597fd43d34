//! The closing tables (stderr): per size, each figure beside its target, then per phase what the
//! controller asked of the API server and which status fields it rewrote; at the end, the curve
//! of every size measured.

use std::time::Duration;

use crate::cost::Cost;
use crate::kubectl;
use crate::manifests::OBJECTS;
use crate::process::Memory;
use crate::setup::CAPSTAN_USER;

pub struct Summary<'a> {
    pub apps: usize,
    pub floor: &'a kubectl::Floor,
    pub floor_cost: &'a Cost,
    pub floor_change: Duration,
    pub cold_synced: Duration,
    pub cold: &'a Cost,
    pub change: &'a Cost,
    pub idle: &'a Cost,
    pub memory: Memory,
    pub sharded: &'a crate::ha::Sharded,
}

/// One size's point of the curve.
pub struct Point {
    pub apps: usize,
    pub floor: Duration,
    pub cold: f64,
    /// Seconds from a commit touching every Application to all Synced: one replica, two.
    pub change: f64,
    pub sharded_change: f64,
    pub memory: Memory,
    /// Percent of a core.
    pub idle_cpu: f64,
    pub idle_writes: usize,
}

/// The targets at 1,000 Applications.
const RSS_TARGET_MIB: f64 = 64.0;
const IDLE_CPU_TARGET: f64 = 2.0;

/// The table of every size measured.
pub fn curve(points: &[Point]) {
    eprintln!(
        "\nApplications | kubectl floor | cold (Synced + Healthy) | change: 1 replica / 2 (--shards 2) \
         | peak RSS | RSS idle | idle CPU | idle writes"
    );
    for p in points {
        let floor = p.floor.as_secs_f64();
        eprintln!(
            "{:>12} | {floor:>11.2} s | {:>8.2} s ({:.2}× floor) | {:>6.2} s / {:>6.2} s | {:>6.1} MiB \
             | {:>6.1} MiB | {:>6.1}% | {}",
            p.apps,
            p.cold,
            p.cold / floor,
            p.change,
            p.sharded_change,
            p.memory.peak,
            p.memory.now,
            p.idle_cpu,
            p.idle_writes,
        );
    }
}

pub fn summary(s: &Summary<'_>) {
    let floor = s.floor.total().as_secs_f64();
    let pass = |ok: bool| if ok { "met" } else { "MISSED" };
    eprintln!(
        "\n{} Applications × {OBJECTS} objects; seconds, CPU seconds; target in brackets",
        s.apps
    );
    eprintln!(
        "kubectl floor: apply --server-side {:.2} s + rollout status {:.2} s = {floor:.2} s \
         (server CPU {:.1} s, workload tier {:.1} s)",
        s.floor.apply.as_secs_f64(),
        s.floor.rollout.as_secs_f64(),
        s.floor_cost.server_cpu,
        s.floor_cost.workload_cpu,
    );
    let ratio = s.cold.seconds / floor;
    // The time targets were set for 100 Applications; the memory target for 1,000.
    let at_100 = |target: &str, ok: bool| {
        if s.apps == 100 {
            format!("{target}: {}; ", pass(ok))
        } else {
            String::new()
        }
    };
    eprintln!(
        "cold: all Synced {:.2} s, all Synced and Healthy {:.2} s = {ratio:.2}× the floor \
         [{}≤ 1.5×: {}]",
        s.cold_synced.as_secs_f64(),
        s.cold.seconds,
        at_100("≤ 30 s", s.cold.seconds <= 30.0),
        pass(ratio <= 1.5),
    );
    let change_target = at_100("≤ 10 s", s.change.seconds <= 10.0);
    let change_target = change_target.trim_end_matches("; ");
    eprintln!(
        "change: all Synced at the new commit {:.2} s{}; kubectl re-apply {:.2} s",
        s.change.seconds,
        if change_target.is_empty() {
            String::new()
        } else {
            format!(" [{change_target}]")
        },
        s.floor_change.as_secs_f64(),
    );
    eprintln!(
        "change on two replicas (--shards 2): all Synced at the next commit {:.2} s, against {:.2} s \
         on one; the replicas' CPU {:.2} s, against {:.2} s; their peak RSS (a start over every \
         object) {:.1} and {:.1} MiB",
        s.sharded.seconds,
        s.change.seconds,
        s.sharded.controller_cpu,
        s.change.controller_cpu,
        s.sharded.peaks[0],
        s.sharded.peaks[1],
    );
    let idle_share = s.idle.controller_cpu / s.idle.seconds * 100.0;
    eprintln!(
        "idle over {:.0} s: {} writes [0: {}] (and {} Lease renewals), controller CPU {:.2} s = \
         {idle_share:.1}% of a core [≤ 2%: {}]",
        s.idle.seconds,
        s.idle.writes,
        pass(s.idle.writes == 0),
        s.idle.lease_writes,
        s.idle.controller_cpu,
        pass(idle_share <= IDLE_CPU_TARGET),
    );
    let rss_target = if s.apps == 1000 {
        format!(
            " [≤ {RSS_TARGET_MIB} MiB: {}]",
            pass(s.memory.peak <= RSS_TARGET_MIB)
        )
    } else {
        String::new()
    };
    eprintln!(
        "controller RSS: peak (VmHWM) {:.1} MiB, at the end of the idle window (VmRSS) {:.1} MiB \
         ({:.1} anonymous, {:.1} of files){rss_target}",
        s.memory.peak, s.memory.now, s.memory.anon, s.memory.file,
    );
    for (phase, cost) in [("cold", s.cold), ("change", s.change), ("idle", s.idle)] {
        eprintln!(
            "\n{phase}: controller CPU {:.2} s, kube-apiserver + etcd {:.2} s, workload tier {:.2} s; \
             {} requests by {CAPSTAN_USER}, {} writes (and {} to Leases):",
            cost.controller_cpu,
            cost.server_cpu,
            cost.workload_cpu,
            cost.requests.iter().map(|(_, n)| n).sum::<usize>(),
            cost.writes,
            cost.lease_writes,
        );
        for (kind, n) in &cost.requests {
            eprintln!("  {n:>6}  {kind}");
        }
        eprintln!("  dry-runs by object (Application prefix left out), most frequent:");
        for (object, n) in cost.dry_runs.iter().take(8) {
            eprintln!("  {n:>6}  {object}");
        }
        eprintln!("  status fields the controller's status writes changed, most frequent:");
        for (path, n) in cost.status_changes.iter().take(12) {
            eprintln!("  {n:>6}  {path}");
        }
    }
}
