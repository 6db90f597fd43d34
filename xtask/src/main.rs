//! `cargo xtask`: the developer entry points.
//!
//! - `cargo xtask test` — install what is missing, then fmt, clippy and the whole test suite.
//! - `cargo xtask testenv build|up [--workloads]|down` — the local control plane for trying
//!   Capstan by hand.
//! - `cargo xtask demo` — the control plane with the workload tier, in the foreground.
//! - `cargo xtask bench [git|render|cluster|controller]` — the benchmarks, each against its
//!   baseline.
//! - `cargo xtask codegen` — write the generated files (the Application CRD).

mod codegen;
mod demo;
mod leftovers;
mod prereqs;
mod testenv;

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test                         install missing tools, then cargo fmt --check, clippy and all tests
  bench [git|render|cluster|controller]
                               run the benchmarks, each side by side with its baseline
  codegen                      write the generated files: the Application CRD in deploy/ and charts/
  demo                         run a local control plane with the workload tier until Ctrl-C
  testenv build                build the Kubernetes test binaries into the cache (if missing)
  testenv up [--workloads]     start a control plane in the background; prints its kubeconfig path
  testenv down                 stop it, leaving no process behind";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test"] => test(),
        ["demo"] => demo::run(),
        ["codegen"] => codegen::run(),
        ["bench"] => bench_git()
            .and_then(|()| bench_render())
            .and_then(|()| bench_cluster())
            .and_then(|()| bench_controller()),
        ["bench", "git"] => bench_git(),
        ["bench", "render"] => bench_render(),
        ["bench", "cluster"] => bench_cluster(),
        ["bench", "controller"] => bench_controller(),
        ["testenv", "build"] => testenv::build().map(|_| ()),
        ["testenv", "up"] => testenv::up(false),
        ["testenv", "up", "--workloads"] => testenv::up(true),
        ["testenv", "down"] => testenv::down(),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole check a CI run does: prerequisites, formatting, lints, then every test.
fn test() -> anyhow::Result<()> {
    let mut timings = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        let start = Instant::now();
        eprintln!("xtask: == {name}");
        let result = f();
        timings.push((name, start.elapsed()));
        result.with_context(|| format!("step `{name}` failed"))
    };
    step("install Debian packages and Rust components", &mut || {
        prereqs::ensure()
    })?;
    let mut bin_dir = None;
    step("build Kubernetes test binaries", &mut || {
        bin_dir = Some(testenv::build()?);
        Ok(())
    })?;
    let bin_dir = bin_dir.context("test binaries were not built")?;
    step("cargo fmt --check", &mut || {
        cargo(&["fmt", "--all", "--", "--check"], &[])
    })?;
    step("cargo clippy", &mut || {
        cargo(
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    })?;
    let mut kubectl = None;
    step(
        "install kubectl 1.37.1 (the reference some tests compare with)",
        &mut || {
            kubectl = Some(prereqs::kubectl()?);
            Ok(())
        },
    )?;
    let kubectl = kubectl.context("kubectl was not installed")?;
    step("cargo test", &mut || {
        let bin_dir = bin_dir.to_string_lossy();
        let kubectl = kubectl.to_string_lossy();
        let run_id = leftovers::run_id();
        let tested = cargo(
            &["test", "--workspace", "--locked"],
            &[
                ("CAPSTAN_TESTENV_BIN_DIR", &bin_dir),
                ("CAPSTAN_KUBECTL", &kubectl),
                ("RUST_BACKTRACE", "0"),
                (leftovers::RUN_ENV, &run_id),
            ],
        );
        // Also after a failure: a leak is worth knowing about either way.
        let checked = leftovers::check(&run_id, leftovers::GRACE);
        if let (Err(_), Err(leak)) = (&tested, &checked) {
            eprintln!("xtask: {leak:#}");
        }
        tested.and(checked)
    })?;
    eprintln!("xtask: timings:");
    for (name, elapsed) in &timings {
        eprintln!("xtask:   {:>7.1}s  {name}", elapsed.as_secs_f64());
    }
    Ok(())
}

/// The renderer against `kubectl kustomize` (issue: renderer), in one run.
fn bench_render() -> anyhow::Result<()> {
    prereqs::ensure()?;
    let kubectl = prereqs::kubectl()?;
    cargo(
        &["bench", "--locked", "-p", "capstan", "--bench", "render"],
        &[("CAPSTAN_KUBECTL", &kubectl.to_string_lossy())],
    )
}

/// The git source against the git command line, in one run.
fn bench_git() -> anyhow::Result<()> {
    prereqs::ensure()?;
    let bin_dir = testenv::build()?;
    let bin_dir = bin_dir.to_string_lossy();
    cargo(
        &["bench", "--locked", "-p", "capstan-git", "--bench", "fetch"],
        &[("CAPSTAN_TESTENV_BIN_DIR", &bin_dir)],
    )
}

/// `capstan apply`/`capstan diff` against `kubectl apply/diff --server-side` on a real
/// apiserver (issue: diff/apply), in one run.
fn bench_cluster() -> anyhow::Result<()> {
    bench_against_kubectl("cluster")
}

/// `capstan controller` reconciling 100, 500 and 1,000 Applications × 20 objects (each size on a
/// fresh control plane; `CAPSTAN_BENCH_APPS=100,500` chooses) against `kubectl apply
/// --server-side` + `kubectl rollout status` of the same objects, in one run.
fn bench_controller() -> anyhow::Result<()> {
    bench_against_kubectl("controller")
}

/// Runs the `capstan` crate's benchmark `name`, which needs the test control plane and the
/// reference kubectl.
fn bench_against_kubectl(name: &str) -> anyhow::Result<()> {
    prereqs::ensure()?;
    let bin_dir = testenv::build()?;
    let kubectl = prereqs::kubectl()?;
    cargo(
        &["bench", "--locked", "-p", "capstan", "--bench", name],
        &[
            ("CAPSTAN_TESTENV_BIN_DIR", &bin_dir.to_string_lossy()),
            ("CAPSTAN_KUBECTL", &kubectl.to_string_lossy()),
        ],
    )
}

/// Runs `cargo ARGS` with extra environment variables, failing on a non-zero exit.
pub(crate) fn cargo(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(Command::new(cargo).args(args).envs(envs.iter().copied()))
}

/// Runs a command with inherited output, failing with the command line on a non-zero exit.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
