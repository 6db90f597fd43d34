//! What the `capstan-testenv` supervisor started, recorded in its state directory, and stopping
//! exactly that: `capstan-testenv --state-dir DIR --stop` (run by `cargo xtask testenv down`)
//! signals the recorded supervisor and kills only recorded components that are still the same
//! processes — never another control plane that runs the same binaries, such as a
//! `cargo test`'s or a `cargo xtask demo`'s.
//!
//! The record, `processes` in the state directory, has one line per process:
//! `<pid> <start time> <name>`, the supervisor first. The start time (clock ticks after boot,
//! from `/proc/<pid>/stat`) tells a recorded process from a later one that reuses its PID.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::process::{kill_group, start_time};

/// The record's file name in the state directory.
pub const RECORD: &str = "processes";

/// How long a stopped supervisor's components may take to end after it.
const COMPONENT_GRACE: Duration = Duration::from_secs(5);

/// One recorded process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// What it is, e.g. `capstan-testenv` or `kube-apiserver`.
    pub name: String,
    /// Its process ID.
    pub pid: u32,
    /// When it started (see the module documentation).
    pub start_time: u64,
}

impl Recorded {
    /// Whether the recorded process still runs (a zombie does not).
    pub fn is_running(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }
}

/// Why recording or stopping failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record could not be written.
    #[error("failed to write {}", path.display())]
    Write {
        /// The record file.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The record could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The record file.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A recorded process is gone before it could be recorded.
    #[error("{name} (pid {pid}) is not running")]
    NotRunning {
        /// Its name.
        name: String,
        /// Its PID.
        pid: u32,
    },
    /// The supervisor ended, but components of its record outlived it and were killed.
    #[error("killed component process(es) that outlived the supervisor: {}", .0.join(", "))]
    Outlived(Vec<String>),
}

/// Records `processes` (name and PID, the supervisor first) in `state`, replacing the record
/// at once so a concurrent `--stop` reads either the old record or the new one.
pub fn record(state: &Path, processes: &[(&str, u32)]) -> Result<(), Error> {
    let mut text = String::new();
    for (name, pid) in processes {
        let start = start_time(*pid).ok_or_else(|| Error::NotRunning {
            name: (*name).to_owned(),
            pid: *pid,
        })?;
        text.push_str(&format!("{pid} {start} {name}\n"));
    }
    let path = state.join(RECORD);
    let partial = state.join(format!("{RECORD}.partial"));
    let write = |source| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::write(&partial, text).map_err(write)?;
    std::fs::rename(&partial, &path).map_err(write)
}

/// The record in `state`; empty when there is none.
pub fn read(state: &Path) -> Result<Vec<Recorded>, Error> {
    let path = state.join(RECORD);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Read { path, source }),
    };
    Ok(text.lines().filter_map(parse_line).collect())
}

fn parse_line(line: &str) -> Option<Recorded> {
    let mut fields = line.splitn(3, ' ');
    Some(Recorded {
        pid: fields.next()?.parse().ok()?,
        start_time: fields.next()?.parse().ok()?,
        name: fields.next()?.to_owned(),
    })
}

/// What [`stop`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// No recorded supervisor was running.
    NothingRunning,
    /// The supervisor (this PID) stopped its components and exited after SIGTERM.
    Gracefully(u32),
    /// The supervisor (this PID) did not exit within the timeout and was killed.
    Killed(u32),
}

/// Stops the supervisor recorded in `state` with SIGTERM (SIGKILL after `timeout`), then kills
/// the process group of any recorded component still running after a short grace — and fails
/// naming those. Processes that are not in the record, or no longer the recorded ones, are
/// never signalled. Removes the record.
pub fn stop(state: &Path, timeout: Duration) -> Result<Stopped, Error> {
    let recorded = read(state)?;
    let Some((supervisor, components)) = recorded.split_first() else {
        return Ok(Stopped::NothingRunning);
    };
    let stopped = if !supervisor.is_running() {
        Stopped::NothingRunning
    } else {
        signal(supervisor.pid, "TERM");
        if wait_gone(&[supervisor], timeout) {
            Stopped::Gracefully(supervisor.pid)
        } else {
            // Still the recorded process: `wait_gone` has just checked its start time.
            signal(supervisor.pid, "KILL");
            Stopped::Killed(supervisor.pid)
        }
    };
    let components: Vec<&Recorded> = components.iter().collect();
    let outlived: Vec<String> = if wait_gone(&components, COMPONENT_GRACE) {
        Vec::new()
    } else {
        components
            .iter()
            .filter(|c| c.is_running())
            .map(|c| {
                // A component leads its own process group (see `process`).
                kill_group(c.pid);
                format!("{} (pid {})", c.name, c.pid)
            })
            .collect()
    };
    let _ = std::fs::remove_file(state.join(RECORD));
    if outlived.is_empty() {
        Ok(stopped)
    } else {
        Err(Error::Outlived(outlived))
    }
}

/// Sends `signal` to one process.
fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status();
}

/// Waits up to `timeout` until none of `processes` runs; true when none does.
fn wait_gone(processes: &[&Recorded], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !processes.iter().any(|p| p.is_running()) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::{Recorded, parse_line};

    #[test]
    fn a_record_line_is_pid_start_time_and_name() {
        assert_eq!(
            parse_line("4242 987654 kube-apiserver"),
            Some(Recorded {
                name: "kube-apiserver".to_owned(),
                pid: 4242,
                start_time: 987654,
            })
        );
        assert_eq!(parse_line("4242 kube-apiserver"), None);
    }

    #[test]
    fn a_process_whose_start_time_differs_from_the_record_is_not_the_recorded_one() {
        let own = std::process::id();
        let start = crate::process::start_time(own).unwrap();
        let same = Recorded {
            name: "self".to_owned(),
            pid: own,
            start_time: start,
        };
        assert!(same.is_running());
        let reused = Recorded {
            start_time: start - 1,
            ..same
        };
        assert!(!reused.is_running());
    }
}
