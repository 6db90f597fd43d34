//! `capstan-testenv`: runs a control plane until told to stop, for people trying Capstan by hand.
//! `cargo xtask testenv up` starts it in the background and `cargo xtask testenv down` stops it
//! (with `--stop`, which stops only what this supervisor recorded; see `supervisor`);
//! `cargo xtask demo` runs it in the foreground.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use capstan_testenv::supervisor::{self, Stopped};
use capstan_testenv::{ControlPlane, Tier};
use clap::Parser;

/// Runs a local Kubernetes control plane (etcd, kube-apiserver; with --workloads also
/// kube-controller-manager, kube-scheduler and kwok) until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Also start the workload tier, so Deployments roll out on a fake node.
    #[arg(long)]
    workloads: bool,
    /// Where to write `pid`, `processes`, `kubeconfig`, `unprivileged.kubeconfig`, then `ready`
    /// or `error`.
    #[arg(long)]
    state_dir: PathBuf,
    /// Instead of starting: stop the supervisor recorded in --state-dir and the components it
    /// recorded, and nothing else.
    #[arg(long, conflicts_with = "workloads")]
    stop: bool,
}

/// How long `--stop` waits for the supervisor to stop its components and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let state = args.state_dir;
    if args.stop {
        return stop(&state);
    }
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    for stale in ["ready", "error"] {
        let _ = std::fs::remove_file(state.join(stale));
    }
    let own = ("capstan-testenv", std::process::id());
    std::fs::write(state.join("pid"), own.1.to_string())?;
    supervisor::record(&state, &[own])?;
    let tier = if args.workloads {
        Tier::Workloads
    } else {
        Tier::ApiServer
    };
    let env = match ControlPlane::start(tier).await {
        Ok(env) => env,
        Err(err) => {
            let message = format!("{:#}", anyhow::Error::new(err));
            std::fs::write(state.join("error"), &message)?;
            anyhow::bail!(message);
        }
    };
    supervisor::record(&state, &[&[own][..], &env.processes()].concat())?;
    publish(&env, &state)?;
    println!("{}", env.describe());
    wait_for_stop().await?;
    println!("stopping the control plane");
    env.stop();
    for file in ["ready", "pid", supervisor::RECORD] {
        let _ = std::fs::remove_file(state.join(file));
    }
    Ok(())
}

/// `--stop`: stops what the supervisor of `state` recorded.
fn stop(state: &Path) -> anyhow::Result<()> {
    match supervisor::stop(state, STOP_TIMEOUT)? {
        Stopped::NothingRunning => eprintln!("capstan-testenv: no control plane is running"),
        Stopped::Gracefully(pid) => {
            eprintln!("capstan-testenv: stopped the control plane (pid {pid})");
        }
        Stopped::Killed(pid) => eprintln!(
            "capstan-testenv: the control plane (pid {pid}) did not stop within {STOP_TIMEOUT:?} and was killed"
        ),
    }
    let _ = std::fs::remove_file(state.join("pid"));
    Ok(())
}

/// Copies the kubeconfigs into the state directory and marks the environment ready.
fn publish(env: &ControlPlane, state: &Path) -> anyhow::Result<()> {
    std::fs::copy(env.admin_kubeconfig(), state.join("kubeconfig"))?;
    std::fs::copy(
        env.unprivileged_kubeconfig(),
        state.join("unprivileged.kubeconfig"),
    )?;
    std::fs::write(state.join("ready"), env.server())?;
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
