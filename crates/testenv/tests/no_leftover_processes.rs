//! No process started by a test outlives it: stopping the git servers stops every process they
//! started (also a git daemon's connection handler), and servers and a control plane that are
//! never stopped — as a shared one in a `static` never is — end with the test binary.
//!
//! Regression test for the issue "the test environment leaks": after `.ci/run`, `git-daemon`
//! processes (children of the `git daemon` wrapper the harness started) ran on under PID 1.
//!
//! The test runs a child copy of this test binary with a unique token in its environment;
//! every process the child starts inherits it, so the processes still carrying the token are
//! exactly those the child started.

use std::time::{Duration, Instant};

use anyhow::Context;
use capstan_testenv::{ControlPlane, GitServers, Tier};

/// Environment variable carrying the token of one run of the child.
const TOKEN_ENV: &str = "CAPSTAN_TESTENV_LEAK_TOKEN";

/// How long processes may take to end after a kill or after their owner exited.
const GRACE: Duration = Duration::from_secs(15);

#[test]
fn no_process_started_by_the_child_outlives_it() -> anyhow::Result<()> {
    let token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "child_starts_servers_and_exits_without_stopping_them",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(TOKEN_ENV, &token)
        .output()
        .context("running the child test")?;
    let survivors = wait_until_gone(&format!("{TOKEN_ENV}={token}"), None);
    anyhow::ensure!(
        output.status.success(),
        "the child test failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        survivors.is_empty(),
        "processes started by the child outlived it (killed now):\n{}",
        survivors.join("\n")
    );
    Ok(())
}

/// Run by [`no_process_started_by_the_child_outlives_it`] in a child process.
#[tokio::test]
#[ignore = "run as a child process by no_process_started_by_the_child_outlives_it"]
async fn child_starts_servers_and_exits_without_stopping_them() -> anyhow::Result<()> {
    let Ok(token) = std::env::var(TOKEN_ENV) else {
        return Ok(());
    };
    let marker = format!("{TOKEN_ENV}={token}");

    // Stopped: a connection held open keeps a handler process of the git daemon running.
    let stopped = GitServers::start().await?;
    let port = stopped
        .daemon_url("")
        .trim_start_matches("git://127.0.0.1:")
        .trim_end_matches('/')
        .parse::<u16>()?;
    // A process that was not there before the connection: the daemon's handler. (Counting
    // would be fooled by a short-lived process of the servers ending meanwhile.)
    let pids = |marked: Vec<(u32, String)>| -> std::collections::BTreeSet<u32> {
        marked.into_iter().map(|(pid, _)| pid).collect()
    };
    let before = pids(marked_processes(&marker));
    let connection = std::net::TcpStream::connect(("127.0.0.1", port))?;
    let deadline = Instant::now() + GRACE;
    while pids(marked_processes(&marker)).is_subset(&before) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the git daemon started no process for a connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stopped);
    let survivors = wait_until_gone(&marker, Some(std::process::id()));
    anyhow::ensure!(
        survivors.is_empty(),
        "stopping the git servers left (killed now):\n{}",
        survivors.join("\n")
    );
    drop(connection);

    // Never stopped, like the shared servers and control plane of a test binary.
    let servers = GitServers::start().await?;
    let control_plane = ControlPlane::start(Tier::ApiServer).await?;
    println!("{}", control_plane.describe());
    std::mem::forget(servers);
    std::mem::forget(control_plane);
    Ok(())
}

/// Waits up to [`GRACE`] until no process but `except` has `marker` in its environment; kills
/// and returns (as `pid: command line`) those that remain.
fn wait_until_gone(marker: &str, except: Option<u32>) -> Vec<String> {
    let deadline = Instant::now() + GRACE;
    loop {
        let marked: Vec<(u32, String)> = marked_processes(marker)
            .into_iter()
            .filter(|(pid, _)| Some(*pid) != except)
            .collect();
        if marked.is_empty() {
            return Vec::new();
        }
        if Instant::now() > deadline {
            return marked
                .into_iter()
                .map(|(pid, cmdline)| {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    format!("{pid}: {cmdline}")
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live (not zombie) processes whose environment holds `marker`, with their command lines.
fn marked_processes(marker: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let has_marker = environ.split(|b| *b == 0).any(|e| e == marker.as_bytes());
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'));
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (has_marker && !zombie).then_some((pid, cmdline))
        })
        .collect()
}
