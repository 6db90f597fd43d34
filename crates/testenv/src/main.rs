//! `capstan-testenv`: runs a control plane until told to stop, for people trying Capstan by hand.
//! `cargo xtask testenv up` starts it in the background and `cargo xtask testenv down` stops it;
//! `cargo xtask demo` runs it in the foreground.

use std::path::{Path, PathBuf};

use anyhow::Context;
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
    /// Where to write `pid`, `kubeconfig`, `unprivileged.kubeconfig`, then `ready` or `error`.
    #[arg(long)]
    state_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let state = args.state_dir;
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    for stale in ["ready", "error"] {
        let _ = std::fs::remove_file(state.join(stale));
    }
    std::fs::write(state.join("pid"), std::process::id().to_string())?;
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
    publish(&env, &state)?;
    println!("{}", env.describe());
    wait_for_stop().await?;
    println!("stopping the control plane");
    env.stop();
    let _ = std::fs::remove_file(state.join("ready"));
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
