//! `capstan apply` and `capstan diff` against `kubectl apply --server-side` and
//! `kubectl diff --server-side` (kubectl 1.37.1), side by side in one run, on 1,000 objects
//! (500 ConfigMaps, 500 Deployments in 500 files) and a real kube-apiserver started by
//! `capstan_testenv`. Four comparisons: apply into a fresh namespace (1,000 creates), re-apply
//! of the unchanged set, diff of the unchanged set and diff with 100 objects changed. Every
//! contender works on its own namespace, so both do the same work; fresh namespaces are created
//! outside the timed part. Correctness is checked once before timing; a table of medians and
//! ratios closes the run (stderr).
//!
//! Run with `cargo xtask bench cluster`; `CAPSTAN_KUBECTL` names the kubectl binary,
//! `CAPSTAN_TESTENV_BIN_DIR` the Kubernetes test binaries, and `CAPSTAN_BENCH_PARALLELISM`
//! (optional) is passed to capstan as `--parallelism`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use capstan_testenv::{ControlPlane, Tier};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

/// Pairs of objects (a ConfigMap and a Deployment each).
const APPS: usize = 500;
/// Every generated object carries this label, so that they can be counted.
const PART_OF: &str = "app.kubernetes.io/part-of=capstan-bench";
/// kubectl's field manager (capstan's is `capstan`).
const KUBECTL_MANAGER: &str = "kubectl-bench";
/// Samples per contender (criterion's minimum).
const SAMPLES: usize = 10;

/// One ConfigMap and one Deployment for app `i`; `changed` bumps the image and a setting.
fn app_yaml(i: usize, changed: bool) -> String {
    let (tag, level) = if changed {
        ("1.4.3", "debug")
    } else {
        ("1.4.2", "info")
    };
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i:03}-config
  labels:
    app.kubernetes.io/name: app-{i:03}
    app.kubernetes.io/part-of: capstan-bench
data:
  LOG_LEVEL: {level}
  LISTEN_ADDR: \"0.0.0.0:8080\"
  DATABASE_URL: postgres://db-{i:03}.internal:5432/app
  settings.yaml: |
    replicas: 2
    index: {i}
    features: [search, export]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i:03}
  labels:
    app.kubernetes.io/name: app-{i:03}
    app.kubernetes.io/part-of: capstan-bench
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i:03}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{i:03}
        app.kubernetes.io/part-of: capstan-bench
    spec:
      containers:
      - name: app
        image: registry.example/app-{i:03}:{tag}
        ports:
        - name: http
          containerPort: 8080
        envFrom:
        - configMapRef:
            name: app-{i:03}-config
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            memory: 256Mi
"
    )
}

/// Writes the plain directory (one file per app); with `changed`, every tenth app differs.
fn write_dir(root: &Path, name: &str, changed: bool) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("create the manifest directory");
    for i in 0..APPS {
        let yaml = app_yaml(i, changed && i.is_multiple_of(10));
        std::fs::write(dir.join(format!("app-{i:03}.yaml")), yaml).expect("write a manifest");
    }
    dir
}

/// The cluster, the two programs and the manifest directories.
struct Bench {
    rt: tokio::runtime::Runtime,
    plane: ControlPlane,
    client: kube::Client,
    capstan: PathBuf,
    kubectl: PathBuf,
    parallelism: Option<String>,
    root: PathBuf,
    dir: PathBuf,
    changed: PathBuf,
    namespaces: RefCell<usize>,
    /// Seconds per run, by (group, contender), in the order they ran.
    runs: RefCell<BTreeMap<(String, String), Vec<f64>>>,
}

/// What a contender does, on which directory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tool {
    Capstan,
    Kubectl,
}

impl Bench {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let plane = rt
            .block_on(ControlPlane::start(Tier::ApiServer))
            .expect("control plane starts");
        let client = rt.block_on(plane.client()).expect("client");
        let root =
            std::env::temp_dir().join(format!("capstan-bench-cluster-{}", std::process::id()));
        let kubectl = capstan_testenv::binaries::kubectl();
        Bench {
            capstan: PathBuf::from(env!("CARGO_BIN_EXE_capstan")),
            kubectl,
            parallelism: std::env::var("CAPSTAN_BENCH_PARALLELISM").ok(),
            dir: write_dir(&root, "objects", false),
            changed: write_dir(&root, "objects-changed", true),
            root,
            rt,
            plane,
            client,
            namespaces: RefCell::new(0),
            runs: RefCell::new(BTreeMap::new()),
        }
    }

    /// Creates a fresh namespace and returns its name.
    fn namespace(&self, tool: Tool) -> String {
        let mut n = self.namespaces.borrow_mut();
        *n += 1;
        let name = format!("{}-{n}", name(tool));
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        self.rt
            .block_on(
                Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &ns),
            )
            .expect("create a namespace");
        name
    }

    /// The command line of `verb` (`apply` or `diff`) by `tool` on `dir` in `namespace`.
    fn command(&self, tool: Tool, verb: &str, dir: &Path, namespace: &str) -> Command {
        let kubeconfig = self.plane.admin_kubeconfig();
        let mut cmd = match tool {
            Tool::Capstan => {
                let mut cmd = Command::new(&self.capstan);
                cmd.arg(verb)
                    .arg(dir)
                    .args(["-n", namespace, "--kubeconfig"]);
                cmd.arg(kubeconfig)
                    .args(["--app-id", &format!("{namespace}/bench")]);
                if let Some(n) = &self.parallelism {
                    cmd.args(["--parallelism", n]);
                }
                cmd
            }
            Tool::Kubectl => {
                let mut cmd = Command::new(&self.kubectl);
                cmd.arg(verb).arg("--server-side");
                cmd.arg(format!("--field-manager={KUBECTL_MANAGER}"));
                cmd.arg("-f")
                    .arg(dir)
                    .args(["-n", namespace, "--kubeconfig"]);
                cmd.arg(kubeconfig);
                cmd
            }
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Runs a command to the end and fails unless it exits with `code`.
    fn run(&self, tool: Tool, verb: &str, dir: &Path, namespace: &str, code: i32) -> Output {
        let output = self
            .command(tool, verb, dir, namespace)
            .output()
            .expect("spawn");
        assert_eq!(
            output.status.code(),
            Some(code),
            "{verb} by {} in {namespace}: stdout {} stderr {}",
            name(tool),
            tail(&output.stdout),
            tail(&output.stderr),
        );
        output
    }

    /// How many generated ConfigMaps and Deployments `namespace` holds.
    fn count(&self, namespace: &str) -> (usize, usize) {
        let params = ListParams::default().labels(PART_OF);
        let maps = Api::<ConfigMap>::namespaced(self.client.clone(), namespace);
        let deployments = Api::<Deployment>::namespaced(self.client.clone(), namespace);
        self.rt.block_on(async {
            let maps = maps
                .list(&params)
                .await
                .expect("list ConfigMaps")
                .items
                .len();
            let deployments = deployments.list(&params).await.expect("list Deployments");
            (maps, deployments.items.len())
        })
    }

    /// CPU seconds kube-apiserver and etcd have used so far.
    fn server_cpu(&self) -> f64 {
        ["kube-apiserver", "etcd"]
            .iter()
            .map(|c| cpu_seconds(self.plane.pid(c).expect("component pid")))
            .sum()
    }

    fn record(&self, group: &str, tool: Tool, seconds: f64) {
        let key = (group.to_owned(), name(tool).to_owned());
        self.runs.borrow_mut().entry(key).or_default().push(seconds);
    }
}

fn name(tool: Tool) -> &'static str {
    match tool {
        Tool::Capstan => "capstan",
        Tool::Kubectl => "kubectl",
    }
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th.
    let after = stat.rsplit_once(") ").expect("stat format").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// The end of a command's output, for failure messages.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let start = text.len().saturating_sub(2000);
    text.get(start..).unwrap_or(&text).to_owned()
}

/// Lines of a unified diff that name a changed file or object (`+++ ` headers).
fn changed_objects(output: &Output) -> usize {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("+++ "))
        .count()
}

/// Both tools apply into fresh namespaces; kubectl's diff of either result and capstan's of its
/// own are empty (capstan's of kubectl's result is not: it would add its tracking id); a changed
/// set is reported as changed by the tool that applied. Returns the namespaces each tool applied into.
fn check(bench: &Bench) -> Applied {
    let mut applied = BTreeMap::new();
    for tool in [Tool::Capstan, Tool::Kubectl] {
        let ns = bench.namespace(tool);
        bench.run(tool, "apply", &bench.dir, &ns, 0);
        assert_eq!(
            bench.count(&ns),
            (APPS, APPS),
            "{} applied all objects",
            name(tool)
        );
        let differs: &[Tool] = match tool {
            Tool::Capstan => &[Tool::Capstan, Tool::Kubectl],
            Tool::Kubectl => &[Tool::Kubectl],
        };
        for &differ in differs {
            bench.run(differ, "diff", &bench.dir, &ns, 0);
            eprintln!(
                "check: {} diff of {}'s result is empty",
                name(differ),
                name(tool)
            );
        }
        if tool == Tool::Capstan {
            drift_is_found_and_reverted(bench, &ns);
        }
        // (kubectl's diff of capstan's changed objects would be a conflict of field managers.)
        let diff = bench.run(tool, "diff", &bench.changed, &ns, 1);
        assert_eq!(changed_objects(&diff), APPS / 10 * 2, "{} diff", name(tool));
        eprintln!(
            "check: {} diff of the changed set exits 1 and shows the {} changed objects",
            name(tool),
            APPS / 10 * 2
        );
        applied.insert(name(tool), ns);
    }
    applied
}

/// Objects another field manager edited after capstan applied them (their fingerprints still
/// name the old live objects) are found by `capstan diff` and reverted by `capstan apply`.
fn drift_is_found_and_reverted(bench: &Bench, namespace: &str) {
    const EDITED: usize = 5;
    let maps = Api::<ConfigMap>::namespaced(bench.client.clone(), namespace);
    let edit = kube::api::PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..kube::api::PatchParams::default()
    };
    let body = serde_json::json!({"data": {"LOG_LEVEL": "trace"}});
    bench.rt.block_on(async {
        for i in 0..EDITED {
            let name = format!("app-{:03}-config", i * 7);
            maps.patch(&name, &edit, &kube::api::Patch::Merge(&body))
                .await
                .expect("edit a ConfigMap as another manager");
        }
    });
    let diff = bench.run(Tool::Capstan, "diff", &bench.dir, namespace, 1);
    assert_eq!(
        changed_objects(&diff),
        EDITED,
        "capstan diff after {EDITED} edits"
    );
    bench.run(Tool::Capstan, "apply", &bench.dir, namespace, 0);
    bench.run(Tool::Capstan, "diff", &bench.dir, namespace, 0);
    eprintln!("check: {EDITED} objects edited by another manager are found and reverted");
}

/// One timed comparison.
struct Case {
    group: &'static str,
    /// `apply` or `diff`.
    verb: &'static str,
    /// Whether the directory with 100 changed objects is used.
    changed: bool,
    /// Whether every run gets a new namespace (otherwise each tool works on the namespace it
    /// applied into during the check).
    fresh: bool,
}

const CASES: [Case; 4] = [
    case("apply 1000 objects, fresh namespace", "apply", false, true),
    case("re-apply 1000 unchanged objects", "apply", false, false),
    case("diff 1000 unchanged objects", "diff", false, false),
    case("diff 1000 objects, 100 changed", "diff", true, false),
];

const fn case(group: &'static str, verb: &'static str, changed: bool, fresh: bool) -> Case {
    Case {
        group,
        verb,
        changed,
        fresh,
    }
}

type Applied = BTreeMap<&'static str, String>;

/// One run of `case` by `tool`; only the command itself is timed.
fn run_once(bench: &Bench, case: &Case, tool: Tool, applied: &Applied) -> Duration {
    let (dir, code) = if case.changed {
        (&bench.changed, 1)
    } else {
        (&bench.dir, 0)
    };
    let ns = if case.fresh {
        bench.namespace(tool)
    } else {
        applied[name(tool)].clone()
    };
    let start = Instant::now();
    bench.run(tool, case.verb, dir, &ns, code);
    start.elapsed()
}

/// Times `case` by both tools, kubectl first: the store only grows during the run, so capstan
/// never runs on a smaller one.
fn compare(c: &mut Criterion, bench: &Bench, case: &Case, applied: &Applied) {
    let mut group = c.benchmark_group(case.group);
    group
        .sample_size(SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for tool in [Tool::Kubectl, Tool::Capstan] {
        group.bench_function(name(tool), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let elapsed = run_once(bench, case, tool, applied);
                        bench.record(case.group, tool, elapsed.as_secs_f64());
                        elapsed
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

/// CPU seconds kube-apiserver and etcd spend on one run of each case by each tool.
fn server_cost(bench: &Bench, applied: &Applied) -> BTreeMap<(&'static str, Tool), f64> {
    let mut cost = BTreeMap::new();
    for case in &CASES {
        for tool in [Tool::Kubectl, Tool::Capstan] {
            let before = bench.server_cpu();
            run_once(bench, case, tool, applied);
            cost.insert((case.group, tool), bench.server_cpu() - before);
        }
    }
    cost
}

fn median(runs: &[f64]) -> f64 {
    // The warm-up run comes first; the last SAMPLES runs are criterion's samples.
    let mut timed: Vec<f64> = runs[runs.len().saturating_sub(SAMPLES)..].to_vec();
    timed.sort_by(f64::total_cmp);
    let mid = timed.len() / 2;
    if timed.len().is_multiple_of(2) {
        (timed[mid - 1] + timed[mid]) / 2.0
    } else {
        timed[mid]
    }
}

fn summary(bench: &Bench, cost: &BTreeMap<(&'static str, Tool), f64>) {
    let runs = bench.runs.borrow();
    let parallelism = bench.parallelism.as_deref().unwrap_or("32 (default)");
    eprintln!("\n1,000 objects, capstan --parallelism {parallelism}; median seconds per run, and");
    eprintln!("CPU seconds kube-apiserver + etcd spent on one run:");
    eprintln!(
        "{:<36} {:>8} {:>8} {:>8} {:>12} {:>12}",
        "", "capstan", "kubectl", "ratio", "server cpu c", "server cpu k"
    );
    for case in &CASES {
        let get = |tool: Tool| median(&runs[&(case.group.to_owned(), name(tool).to_owned())]);
        let (ours, theirs) = (get(Tool::Capstan), get(Tool::Kubectl));
        eprintln!(
            "{:<36} {ours:>7.2}s {theirs:>7.2}s {:>7.1}× {:>11.2}s {:>11.2}s",
            case.group,
            theirs / ours,
            cost[&(case.group, Tool::Capstan)],
            cost[&(case.group, Tool::Kubectl)],
        );
    }
}

fn bench(c: &mut Criterion) {
    let bench = Bench::start();
    let applied = check(&bench);
    for case in &CASES {
        compare(c, &bench, case, &applied);
    }
    let cost = server_cost(&bench, &applied);
    summary(&bench, &cost);
    let _ = std::fs::remove_dir_all(&bench.root);
}

criterion_group!(benches, bench);
criterion_main!(benches);
