//! `capstan-testenv --stop` (what `cargo xtask testenv down` runs) stops exactly what the
//! supervisor of its state directory started, and nothing else.
//!
//! Regression test for the issue "the test environment overreaches": `down` killed every
//! process whose executable lay in the binary cache, so it also stopped the control plane of a
//! `cargo test` or `cargo xtask demo` running at the same time.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use capstan_testenv::{ControlPlane, Tier};

/// The supervisor binary built with this package.
const SUPERVISOR: &str = env!("CARGO_BIN_EXE_capstan-testenv");

/// A supervisor this test started; killed if the test ends early.
struct Supervisor(Child);

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn stopping_a_supervisor_leaves_a_control_plane_started_elsewhere_running()
-> anyhow::Result<()> {
    let ours = ControlPlane::start(Tier::ApiServer).await?;
    let state = ours.dir().join("supervisor-state");
    let mut supervisor = Supervisor(
        Command::new(SUPERVISOR)
            .arg("--state-dir")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the supervisor")?,
    );
    wait_ready(&state, &mut supervisor.0)?;
    let recorded = recorded_pids(&state)?;
    anyhow::ensure!(
        recorded.len() >= 3,
        "expected the supervisor, etcd and kube-apiserver to be recorded, got {recorded:?}"
    );

    let output = Command::new(SUPERVISOR)
        .arg("--state-dir")
        .arg(&state)
        .arg("--stop")
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "--stop failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let status = supervisor.0.wait()?;
    anyhow::ensure!(
        status.success(),
        "the supervisor did not stop gracefully: {status}"
    );
    let running: Vec<u32> = recorded
        .into_iter()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    anyhow::ensure!(
        running.is_empty(),
        "recorded processes still running: {running:?}"
    );

    let client = ours.client().await?;
    let readyz = http::Request::get("/readyz").body(Vec::new())?;
    let answer = client
        .request_text(readyz)
        .await
        .context("our control plane no longer answers /readyz after --stop")?;
    anyhow::ensure!(answer.trim() == "ok", "/readyz answered {answer:?}");
    Ok(())
}

/// Waits for the supervisor to write `ready`, failing on `error` or its exit.
fn wait_ready(state: &Path, supervisor: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !state.join("ready").exists() {
        if let Ok(error) = std::fs::read_to_string(state.join("error")) {
            anyhow::bail!("the supervisor could not start: {error}");
        }
        if let Some(status) = supervisor.try_wait()? {
            anyhow::bail!("the supervisor exited: {status}");
        }
        anyhow::ensure!(Instant::now() < deadline, "the supervisor was not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The PIDs in the supervisor's record (`<pid> <start time> <name>` per line).
fn recorded_pids(state: &Path) -> anyhow::Result<Vec<u32>> {
    let record = std::fs::read_to_string(state.join("processes"))
        .context("the supervisor recorded no processes")?;
    record
        .lines()
        .map(|line| {
            line.split_whitespace()
                .next()
                .and_then(|pid| pid.parse().ok())
                .with_context(|| format!("malformed record line {line:?}"))
        })
        .collect()
}
