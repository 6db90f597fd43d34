//! The Application controller end to end: N Applications × 20 objects (2 Deployments of 2
//! replicas, 2 Services, 16 ConfigMaps each) from one repository on the test git server (HTTPS,
//! basic auth) and one shared Secret, reconciled by the real `capstan controller` process against
//! a control plane with the workload tier, side by side in the same run with the floor the
//! cluster sets: `kubectl apply --server-side` + `kubectl rollout status` of the same objects
//! (kubectl first, so Capstan never runs on a smaller store). N is 100, 500 and 1,000, each on a
//! fresh control plane; `CAPSTAN_BENCH_APPS=100,500` chooses the sizes.
//!
//! Measured, once each per size (a cold start takes a fresh cluster's worth of objects, so the
//! run is not repeated; figures vary by about ±15% between runs on a shared 2-core machine):
//! - cold: creating the Applications → every one Synced and Healthy;
//! - change: a commit changing one ConfigMap of every Application, each Application then
//!   refresh-annotated → every one Synced at the new commit (and kubectl's re-apply of the
//!   changed tree as its floor);
//! - idle, over two refresh intervals once everything is synced: the controller's CPU
//!   (`/proc/PID/stat`) and its user's requests in the audit log (writes must be zero);
//! - the controller's resident memory: its peak (`VmHWM`) and at the end of the idle window
//!   (`VmRSS`);
//! - two replicas: `--shards 2` on two processes, each holding one shard, the same change again
//!   (another commit touching every Application) → every one Synced at it, against the single
//!   replica's change phase.
//!
//! For each phase the controller's requests are counted by verb and resource from the audit log,
//! which shows what a slow phase waits on. Run with `cargo xtask bench controller`;
//! `CAPSTAN_KUBECTL` names kubectl, `CAPSTAN_TESTENV_BIN_DIR` the Kubernetes test binaries;
//! `RUST_LOG` is passed to the controller; with `CAPSTAN_BENCH_KEEP` set, its log and the audit
//! log are kept in the run's directory. `CAPSTAN_BENCH_MEMORY_ONLY` measures the controller's
//! cold start, change and idle window alone (no kubectl floor, no two replicas): a quicker run
//! when only its memory and idle figures are wanted.

mod cost;
mod ha;
mod kubectl;
mod manifests;
mod process;
mod report;
mod setup;
mod watch;

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use kube::api::PostParams;

use crate::cost::{Cost, Start};
use crate::kubectl::Kubectl;
use crate::manifests::OBJECTS;
use crate::process::{Controller, ControllerArgs, Memory};
use crate::report::{Point, Summary, curve, summary};
use crate::setup::{APPS_NAMESPACE, Env, KUBECTL_TARGET};
use crate::watch::{Applications, healthy, synced_at};

/// The Applications' `refreshInterval`; the idle window is two of them.
const REFRESH: Duration = Duration::from_secs(10);
/// The controller's `--poll-interval` (the shared repository check).
const POLL: &str = "10s";
/// How long any phase may take before the run fails: 5 minutes, and a second per Application.
fn phase_timeout(apps: usize) -> Duration {
    Duration::from_secs(300 + apps as u64)
}
/// The numbers of Applications measured when `CAPSTAN_BENCH_APPS` does not say.
const SIZES: [usize; 3] = [100, 500, 1000];

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let mut points = Vec::new();
        for apps in sizes()? {
            points.push(bench(apps).await?);
        }
        curve(&points);
        anyhow::Ok(())
    });
    if let Err(err) = &result {
        eprintln!("bench: failed: {err:#}");
    }
    result
}

/// The sizes to measure: `CAPSTAN_BENCH_APPS` (comma-separated), else [`SIZES`].
fn sizes() -> anyhow::Result<Vec<usize>> {
    let Some(list) = std::env::var_os("CAPSTAN_BENCH_APPS") else {
        return Ok(SIZES.to_vec());
    };
    let list = list.to_string_lossy().into_owned();
    list.split(',')
        .map(|n| {
            let n = n.trim();
            match n.parse::<usize>() {
                Ok(apps) if (1..=1000).contains(&apps) => Ok(apps),
                _ => anyhow::bail!("CAPSTAN_BENCH_APPS: {n:?} is not a number from 1 to 1000"),
            }
        })
        .collect()
}

/// One run with `apps` Applications on a fresh environment; prints its table and returns its
/// point of the curve.
async fn bench(apps: usize) -> anyhow::Result<Point> {
    eprintln!(
        "bench: {apps} Applications: starting the control plane (workload tier) and the git servers"
    );
    let env = Env::start(apps).await?;
    if std::env::var_os("CAPSTAN_BENCH_MEMORY_ONLY").is_some() {
        return memory_only(&env).await;
    }
    let kubectl = Kubectl {
        binary: capstan_testenv::binaries::kubectl(),
        kubeconfig: env.plane.admin_kubeconfig().to_owned(),
        namespace: KUBECTL_TARGET.to_owned(),
    };
    let tree = env.root.join("tree");

    eprintln!("bench: kubectl apply --server-side + rollout status of {apps}×{OBJECTS} objects");
    let start = Start::now(&env, None)?;
    let floor = kubectl.apply_and_roll_out(&tree)?;
    let floor_cost = start.cost(&env, None, Instant::now(), None)?;

    let mut run = Run::start(&env)?;
    let (cold_synced, cold) = run.cold().await?;

    eprintln!("bench: kubectl re-apply of the changed tree (one ConfigMap per Application)");
    manifests::write_tree(&tree, &manifests::changed_files(apps, 2))?;
    let floor_change = kubectl.apply(&tree)?;

    let change = run.change().await?;
    let idle = run.idle().await?;
    let memory = Memory::of(run.controller.pid())?;
    run.controller.stop()?;
    let sharded = ha::change_on_two_replicas(&env, &mut run.watch, 3).await?;

    let point = Point {
        apps,
        floor: floor.total(),
        cold: cold.seconds,
        change: change.seconds,
        sharded_change: sharded.seconds,
        memory,
        idle_cpu: idle.controller_cpu / idle.seconds * 100.0,
        idle_writes: idle.writes,
    };
    summary(&Summary {
        apps,
        floor: &floor,
        floor_cost: &floor_cost,
        floor_change,
        cold_synced,
        cold: &cold,
        change: &change,
        idle: &idle,
        memory,
        sharded: &sharded,
    });
    keep_or_remove(&env)?;
    Ok(point)
}

/// Keeps the run's directory, with the audit log, when `CAPSTAN_BENCH_KEEP` is set; else removes
/// it.
fn keep_or_remove(env: &Env) -> anyhow::Result<()> {
    if std::env::var_os("CAPSTAN_BENCH_KEEP").is_some() {
        std::fs::copy(env.plane.audit_log().path(), env.root.join("audit.log"))?;
        eprintln!("bench: kept {} (with the audit log)", env.root.display());
    } else {
        let _ = std::fs::remove_dir_all(&env.root);
    }
    Ok(())
}

/// The controller alone: cold start, change, idle; its memory and idle figures.
async fn memory_only(env: &Env) -> anyhow::Result<Point> {
    let mut run = Run::start(env)?;
    let (_, cold) = run.cold().await?;
    let change = run.change().await?;
    let idle = run.idle().await?;
    let memory = Memory::of(run.controller.pid())?;
    run.controller.stop()?;
    let idle_cpu = idle.controller_cpu / idle.seconds * 100.0;
    eprintln!(
        "\n{} Applications, the controller alone: cold {:.1} s, change {:.1} s; idle CPU \
         {idle_cpu:.1}%, {} idle writes; RSS peak {:.1} MiB, at the end {:.1} MiB ({:.1} \
         anonymous, {:.1} of files)",
        env.apps,
        cold.seconds,
        change.seconds,
        idle.writes,
        memory.peak,
        memory.now,
        memory.anon,
        memory.file,
    );
    keep_or_remove(env)?;
    Ok(Point {
        apps: env.apps,
        floor: Duration::ZERO,
        cold: cold.seconds,
        change: change.seconds,
        sharded_change: 0.0,
        memory,
        idle_cpu,
        idle_writes: idle.writes,
    })
}

/// The controller at work on the environment, and the watch that times it.
struct Run<'a> {
    env: &'a Env,
    controller: Controller,
    pid: Option<u32>,
    watch: Applications,
}

impl<'a> Run<'a> {
    fn start(env: &'a Env) -> anyhow::Result<Self> {
        let controller = Controller::start(&ControllerArgs {
            kubeconfig: &env.capstan_kubeconfig,
            namespace: APPS_NAMESPACE,
            poll_interval: POLL,
            git_cache: &env.root.join("git-cache"),
            log: &env.root.join("controller.log"),
            extra: &[],
        })?;
        Ok(Run {
            env,
            pid: Some(controller.pid()),
            controller,
            watch: Applications::watch(env.applications()),
        })
    }

    /// Creates the Applications and waits until all are Synced, then Healthy; returns when all
    /// were Synced and the whole phase's cost.
    async fn cold(&mut self) -> anyhow::Result<(Duration, Cost)> {
        let count = self.env.apps;
        eprintln!("bench: creating {count} Applications");
        let start = Start::now(self.env, self.pid)?;
        let refresh = format!("{}s", REFRESH.as_secs());
        let apps = self.env.applications();
        try_join_all((0..count).map(|i| {
            let (apps, app) = (apps.clone(), self.env.application(i, &refresh));
            async move { anyhow::Ok(apps.create(&PostParams::default(), &app?).await?) }
        }))
        .await?;
        let first = self.env.first.clone();
        let synced = self.wait("every Application Synced", |a| synced_at(a, &first));
        let synced = synced.await?.duration_since(start.at);
        let what = "every Application Synced and Healthy";
        let end = self
            .wait(what, |a| synced_at(a, &first) && healthy(a))
            .await?;
        Ok((
            synced,
            start.cost(self.env, self.pid, end, Some(&mut self.watch))?,
        ))
    }

    /// Commits a change of one ConfigMap per Application, refresh-annotates every Application and
    /// waits until all are Synced (and Healthy) at the new commit.
    async fn change(&mut self) -> anyhow::Result<Cost> {
        eprintln!("bench: committing the change and refreshing every Application");
        let start = Start::now(self.env, self.pid)?;
        let second = self.env.change_and_refresh(2, "one ConfigMap each").await?;
        let what = "every Application Synced at the new commit";
        let end = self
            .wait(what, |a| synced_at(a, &second) && healthy(a))
            .await?;
        start.cost(self.env, self.pid, end, Some(&mut self.watch))
    }

    /// Two refresh intervals of a synced controller. With `CAPSTAN_BENCH_DUMP=NAME`, every
    /// status of Application NAME seen meanwhile is written to the run's directory.
    async fn idle(&mut self) -> anyhow::Result<Cost> {
        let window = REFRESH * 2;
        eprintln!("bench: idle for {window:?} (two refresh intervals)");
        let start = Start::now(self.env, self.pid)?;
        self.watch.take_changes();
        if let Some(name) = std::env::var_os("CAPSTAN_BENCH_DUMP") {
            let name = name.to_string_lossy().into_owned();
            self.watch.dump = Some((self.env.root.clone(), name, 0));
        }
        self.watch.observe(window).await?;
        self.controller.check_running()?;
        start.cost(self.env, self.pid, Instant::now(), Some(&mut self.watch))
    }

    /// Waits until every Application satisfies `done`, failing with the controller's log when
    /// it has exited meanwhile.
    async fn wait(
        &mut self,
        what: &str,
        done: impl Fn(&capstan_api::application::Application) -> bool,
    ) -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + phase_timeout(self.env.apps);
        let waited = self.watch.until(what, self.env.apps, deadline, done).await;
        self.controller.check_running()?;
        waited
    }
}
