//! When a component dies, the harness says which: a test that fails after the apiserver was
//! killed reports `kube-apiserver`, its exit signal and its log, rather than a bare
//! "connection refused".

use std::time::Duration;

use anyhow::Context;
use capstan_testenv::{ControlPlane, Tier, run_in};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// Whether `pid` has ended (gone, or a zombie waiting to be reaped by the harness).
fn has_ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[tokio::test]
async fn killing_the_apiserver_fails_the_test_with_a_message_naming_it() -> anyhow::Result<()> {
    // A control plane of its own: this test destroys it.
    let env = ControlPlane::start(Tier::ApiServer).await?;
    let pid = env
        .pid("kube-apiserver")
        .context("kube-apiserver is not running")?;

    let outcome = run_in(&env, "apiserver killed", move |ctx| async move {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill failed: {status}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !has_ended(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Api::<ConfigMap>::namespaced(ctx.client, &ctx.namespace)
            .list(&Default::default())
            .await?;
        Ok(())
    })
    .await;

    let message = format!(
        "{:#}",
        outcome
            .err()
            .context("the test passed with the apiserver dead")?
    );
    for expected in [
        "kube-apiserver exited during the test",
        "signal: 9",
        "kube-apiserver.log",
    ] {
        anyhow::ensure!(
            message.contains(expected),
            "missing {expected:?} in:\n{message}"
        );
    }
    anyhow::ensure!(env.pid("etcd").is_some(), "etcd should still be listed");
    Ok(())
}
