//! Child processes of the test environment: spawning with their output in a log file, exit
//! detection, log tails for error messages, and stopping a component with every process it
//! started.
//!
//! Every component is started through `setpriv --pdeathsig KILL` from one long-lived launcher
//! thread, so the kernel kills it when the process that owns the test environment ends — also
//! when a shared control plane lives in a `static` (whose destructor never runs) or the test
//! binary is killed. The death signal fires when the *thread* that forked exits, which is why
//! spawning happens on a thread that lives as long as the process. The signal reaches only the
//! component itself, so a component must be the server binary, never a wrapper that starts it
//! as a child (`git daemon` does: the harness starts `git-daemon` directly).
//!
//! Each component also leads a process group of its own, and [`Component::stop`] kills that
//! group: the processes a server forks (a git daemon's connection handlers, lighttpd's CGI and
//! log pipe, sshd's sessions) end with it — and nothing outside the group is touched.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::Error;

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// How many bytes of a log's end go into error messages.
const TAIL_BYTES: u64 = 4096;

/// A running component: its name (used in every message about it), process and log file.
#[derive(Debug)]
pub struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Component {
    /// Starts `binary` with `args`, its stdout and stderr written to `log`.
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self, Error> {
        Self::spawn_with_env(name, binary, args, log, &[])
    }

    /// Like [`Component::spawn`], with extra environment variables.
    pub fn spawn_with_env(
        name: &'static str,
        binary: &Path,
        args: &[String],
        log: PathBuf,
        envs: &[(&str, &OsStr)],
    ) -> Result<Self, Error> {
        let spawn_error = |source| Error::Spawn {
            component: name,
            source,
        };
        let out = File::create(&log).map_err(spawn_error)?;
        let err = out.try_clone().map_err(spawn_error)?;
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(binary)
            .args(args)
            .envs(envs.iter().copied())
            // setpriv execs the binary, so the component is the leader of this new group.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = launch(command).map_err(spawn_error)?;
        Ok(Self { name, child, log })
    }

    /// The component's name, e.g. `kube-apiserver`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if the process has ended, without blocking.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Kills the process and every process of its group, and reaps it. Safe to call more than
    /// once.
    ///
    /// The group is signalled only while the component has not been reaped: until then its
    /// PID, and so the group's ID, cannot belong to anyone else. A component that exited by
    /// itself is only reaped; what it forked is left to end on its own.
    pub fn stop(&mut self) {
        if self.exit_status().is_none() {
            if !kill_group(self.child.id()) {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last few kilobytes of a log file, starting at a line boundary.
pub fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(match (start > 0, text.find('\n')) {
            (true, Some(newline)) => text[newline + 1..].to_owned(),
            _ => text,
        })
    };
    match read() {
        Ok(text) if text.trim().is_empty() => "(log is empty)".to_owned(),
        Ok(text) => text,
        Err(err) => format!("(cannot read log: {err})"),
    }
}

/// Sends SIGKILL to the process group `pgid`; false when `kill` could not do it.
pub(crate) fn kill_group(pgid: u32) -> bool {
    Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// When `pid` started, in clock ticks after boot (field 22 of `/proc/<pid>/stat`); `None` when
/// it is gone or a zombie. A PID and its start time name one process: a PID reused later has a
/// later start time.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; the fields after it do not.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Spawns `command` on the launcher thread (see the module documentation).
fn launch(command: Command) -> std::io::Result<Child> {
    static LAUNCHER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let launcher = LAUNCHER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testenv-launcher".to_owned())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                while let Ok((mut command, reply)) = rx.recv() {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or_else(|err| eprintln!("capstan-testenv: cannot start launcher: {err}"));
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let gone = || std::io::Error::other("the testenv launcher thread is gone");
    launcher
        .lock()
        .map_err(|_| gone())?
        .send((command, reply_tx))
        .map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}

#[cfg(test)]
mod tests {
    use super::{log_tail, start_time};

    #[test]
    fn start_time_names_a_running_process_and_not_a_gone_one() {
        let own = start_time(std::process::id()).expect("own start time");
        assert!(own > 0);
        assert_eq!(start_time(std::process::id()), Some(own));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(start_time(pid), None);
    }

    #[test]
    fn log_tail_keeps_the_end_of_a_long_log_from_a_line_boundary() {
        let dir = std::env::temp_dir().join(format!("capstan-testenv-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long.log");
        let lines: Vec<String> = (0..2000).map(|i| format!("line {i}")).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        let tail = log_tail(&path);
        assert!(tail.ends_with("line 1999"));
        assert!(
            tail.starts_with("line "),
            "tail starts mid-line: {:?}",
            &tail[..20]
        );
        assert!(tail.len() <= 4096);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn log_tail_of_a_missing_file_says_so() {
        assert!(log_tail(std::path::Path::new("/nonexistent/x.log")).contains("cannot read log"));
    }
}
