//! The check after `cargo test` that no process started by the tests outlives them.
//!
//! `cargo xtask test` gives `cargo test` a variable naming this run; the test binaries, and every
//! component or server they start, inherit it. Once `cargo test` has returned, any live process
//! whose environment still holds it was started by this run and leaked: it is killed (it is
//! ours by construction) and the step fails naming it.

use std::time::{Duration, Instant};

use anyhow::bail;

/// The variable that marks the processes of one `cargo xtask test` run.
pub const RUN_ENV: &str = "CAPSTAN_TEST_RUN";

/// How long processes may take to end after their test binary exited (death signals are
/// delivered at once, but a process needs a moment to be gone).
pub const GRACE: Duration = Duration::from_secs(10);

/// A value for [`RUN_ENV`] that no other run uses.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Fails naming (and kills) the processes still marked with `run_id` after `grace`.
pub fn check(run_id: &str, grace: Duration) -> anyhow::Result<()> {
    let marker = format!("{RUN_ENV}={run_id}");
    let deadline = Instant::now() + grace;
    let mut left = marked(&marker);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = marked(&marker);
    }
    if left.is_empty() {
        return Ok(());
    }
    for (pid, _) in &left {
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", &pid.to_string()])
            .status();
    }
    let names: Vec<String> = left
        .iter()
        .map(|(pid, command)| format!("{pid} ({command})"))
        .collect();
    bail!(
        "{} process(es) started by the tests outlived them (killed now): {}",
        names.len(),
        names.join("; ")
    )
}

/// Live processes other than this one whose environment holds `marker`, with their command
/// lines.
fn marked(marker: &str) -> Vec<(u32, String)> {
    let own = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let holds_marker = std::fs::read(entry.path().join("environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()));
        // A zombie has an empty command line: it is dead, waiting for its parent.
        let command = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if pid != own && holds_marker && !command.is_empty() {
            found.push((pid, String::from_utf8_lossy(&command).replace('\0', " ")));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{RUN_ENV, check, marked, run_id};

    #[test]
    fn a_process_that_outlives_the_run_fails_the_check_and_is_killed() {
        let id = run_id();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("300")
            .env(RUN_ENV, &id)
            .spawn()
            .unwrap();
        let marker = format!("{RUN_ENV}={id}");
        let deadline = Instant::now() + Duration::from_secs(5);
        // Between fork and exec the child still has this process's environment.
        while !marked(&marker).iter().any(|(pid, _)| *pid == sleeper.id()) {
            assert!(Instant::now() < deadline, "sleep never appeared marked");
            std::thread::sleep(Duration::from_millis(10));
        }
        let message = check(&id, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(message.contains(&sleeper.id().to_string()), "{message}");
        assert!(message.contains("sleep 300"), "{message}");
        let status = sleeper.wait().unwrap();
        assert!(!status.success(), "sleep was not killed: {status}");
        check(&id, Duration::ZERO).unwrap();
    }
}
