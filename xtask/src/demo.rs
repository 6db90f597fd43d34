//! `cargo xtask demo`: Capstan doing its job on this machine — a local control plane with the
//! workload tier, a git repository holding `examples/`, the Application resource, `capstan
//! controller`, and two Applications that become Synced and Healthy; then instructions for
//! trying it (push a commit, watch it sync). Ctrl-C stops everything.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::testenv::{cache_dir, debug_binary, spawn_supervisor, wait_ready, workspace_root};
use crate::{cargo, run as run_command};

/// How long the demo waits for its Applications to become Synced and Healthy.
const SYNC_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs the demo until Ctrl-C.
pub fn run() -> anyhow::Result<()> {
    let state = cache_dir().join("demo");
    let mut supervisor = spawn_supervisor(&state, true, false)?;
    let server = wait_ready(&state, &mut supervisor)?;
    let kubeconfig = state.join("kubeconfig");
    let capstan = build_capstan()?;
    let repo = examples_repository(&state)?;
    let mut controller = start(&capstan, &kubeconfig, &state)?;
    let result = applications(&capstan, &kubeconfig, &state, &repo);
    if let Err(err) = result {
        let _ = controller.kill();
        let _ = supervisor.kill();
        return Err(err);
    }
    println!(
        "\nCapstan demo: a local Kubernetes control plane is running at {server}
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok with one fake node),
`capstan controller` reconciles the Applications of namespace `capstan`, and a git repository
holds the examples: {repo}

Two Applications are Synced and Healthy:
  {capstan} get applications -n capstan --kubeconfig {kubeconfig}

Change the repository and watch the change arrive (the controller checks it every 5 s):
  git clone {repo} /tmp/capstan-examples && cd /tmp/capstan-examples
  sed -i 's/newTag: \"1.0\"/newTag: \"1.1\"/' guestbook/kustomization.yaml
  git commit -am 'guestbook 1.1' && git push
  {capstan} get application guestbook -n capstan --kubeconfig {kubeconfig}

Or try kubectl: export KUBECONFIG={kubeconfig}; kubectl get applications.capstan.dev -A
Metrics and health: http://127.0.0.1:8080/metrics, /healthz, /readyz.
The controller's log: {log}

Press Ctrl-C to stop everything.",
        repo = repo.display(),
        capstan = capstan.display(),
        kubeconfig = kubeconfig.display(),
        log = state.join("controller.log").display(),
    );
    let status = supervisor.wait().context("waiting for the control plane")?;
    let _ = controller.kill();
    println!("demo stopped ({status})");
    Ok(())
}

/// Builds the `capstan` binary and returns its path.
fn build_capstan() -> anyhow::Result<PathBuf> {
    cargo(
        &[
            "build",
            "--quiet",
            "--package",
            "capstan",
            "--bin",
            "capstan",
        ],
        &[],
    )?;
    debug_binary("capstan")
}

/// A bare repository `examples.git` in `state`, whose `main` holds the workspace's `examples/`
/// (made anew each run).
fn examples_repository(state: &Path) -> anyhow::Result<PathBuf> {
    let bare = state.join("examples.git");
    let work = state.join("examples-work");
    for dir in [&bare, &work] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    let git = |dir: &Path, args: &[&str]| {
        run_command(
            Command::new("git")
                .current_dir(dir)
                .args([
                    "-c",
                    "user.name=Capstan demo",
                    "-c",
                    "user.email=demo@capstan.invalid",
                ])
                .args(args),
        )
    };
    std::fs::create_dir_all(&work)?;
    git(
        state,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "examples.git",
        ],
    )?;
    git(&work, &["init", "--quiet", "--initial-branch=main"])?;
    copy_dir(&workspace_root().join("examples"), &work)?;
    git(&work, &["add", "."])?;
    git(&work, &["commit", "--quiet", "-m", "examples"])?;
    git(
        &work,
        &["push", "--quiet", &bare.display().to_string(), "main"],
    )?;
    Ok(bare)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Starts `capstan controller` for namespace `capstan`, its output in `controller.log`.
fn start(capstan: &Path, kubeconfig: &Path, state: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(state.join("controller.log"))?;
    Command::new(capstan)
        .arg("controller")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--namespace", "capstan", "--http-addr", "127.0.0.1:8080"])
        .args(["--poll-interval", "5s", "--git-cache"])
        .arg(state.join("git-cache"))
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("starting capstan controller")
}

/// Installs the Application resource and the two demo Applications with `capstan apply`, then
/// waits until both are Synced and Healthy.
fn applications(
    capstan: &Path,
    kubeconfig: &Path,
    state: &Path,
    repo: &Path,
) -> anyhow::Result<()> {
    let apply = |dir: &Path, app_id: &str, extra: &[&str]| {
        run_command(
            Command::new(capstan)
                .arg("apply")
                .arg(dir)
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["-n", "capstan", "--app-id", app_id])
                .args(extra),
        )
    };
    let create = ["--sync-option", "CreateNamespace=true"];
    apply(
        &workspace_root().join("deploy/crds"),
        "capstan/crds",
        &create,
    )?;
    let apps = state.join("applications");
    std::fs::create_dir_all(&apps)?;
    for (name, path) in [("guestbook", "guestbook"), ("settings", "settings")] {
        let yaml = format!(
            "apiVersion: capstan.dev/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  source:
    repoURL: file://{repo}
    targetRevision: main
    path: {path}
  destination:
    namespace: {name}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
    syncOptions: [CreateNamespace=true]
",
            repo = repo.display()
        );
        std::fs::write(apps.join(format!("{name}.yaml")), yaml)?;
    }
    apply(
        &apps,
        "capstan/demo-applications",
        &["--sync-option", "CreateNamespace=true"],
    )?;
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let output = Command::new(capstan)
            .args(["get", "applications", "-n", "capstan", "--kubeconfig"])
            .arg(kubeconfig)
            .output()?;
        let table = String::from_utf8_lossy(&output.stdout).into_owned();
        let synced = table
            .lines()
            .filter(|l| l.contains("Synced") && l.contains("Healthy"));
        if synced.count() == 2 {
            println!("{table}");
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the demo Applications did not become Synced and Healthy within {SYNC_TIMEOUT:?}:\n{table}"
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
