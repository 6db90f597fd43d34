//! `cargo xtask demo`: a local control plane with the workload tier, in the foreground, with
//! instructions for trying it; Ctrl-C stops everything.
//!
//! The demo is a sequence of steps over one state directory. Today it brings up the control
//! plane; the controller issue adds the next steps here (serve a sample manifest repository,
//! run `capstan controller` against the control plane, print the web UI's address).

use anyhow::Context;

use crate::testenv::{cache_dir, spawn_supervisor, wait_ready};

/// Runs the demo until Ctrl-C.
pub fn run() -> anyhow::Result<()> {
    let state = cache_dir().join("demo");
    let mut supervisor = spawn_supervisor(&state, true, false)?;
    let server = wait_ready(&state, &mut supervisor)?;
    let kubeconfig = state.join("kubeconfig");
    println!(
        "\nCapstan demo: a local Kubernetes control plane is running at {server}
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok with one fake node).

Try it:
  export KUBECONFIG={kubeconfig}
  kubectl get nodes
  kubectl create deployment web --image=registry.example/web:1.0 --replicas=3
  kubectl rollout status deployment/web

Press Ctrl-C to stop everything.",
        kubeconfig = kubeconfig.display()
    );
    let status = supervisor.wait().context("waiting for the control plane")?;
    println!("demo stopped ({status})");
    Ok(())
}
