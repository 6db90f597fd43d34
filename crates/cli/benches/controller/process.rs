//! The `capstan controller` child process (it dies with the benchmark) and what `/proc` says of
//! a process: CPU seconds (`utime + stime`) and resident memory (`VmHWM`, `VmRSS`).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `capstan controller`; dropping it kills the process.
pub struct Controller {
    child: Child,
    log: PathBuf,
    port: u16,
}

/// How the controller is run.
pub struct ControllerArgs<'a> {
    pub kubeconfig: &'a Path,
    pub namespace: &'a str,
    pub poll_interval: &'a str,
    pub git_cache: &'a Path,
    pub log: &'a Path,
    /// More arguments (`--shards 2 --identity a`).
    pub extra: &'a [&'a str],
}

impl Controller {
    /// Starts the controller (its output in `args.log`; `RUST_LOG` is passed through) and waits
    /// until `/readyz` answers 200.
    pub fn start(args: &ControllerArgs<'_>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(args.log)
            .with_context(|| format!("creating {}", args.log.display()))?;
        // Through `setpriv --pdeathsig KILL` (which execs it, keeping the PID), like the test
        // environment's components: the controller dies with the benchmark even when the
        // benchmark is killed.
        // `CAPSTAN_BENCH_WRAP=heaptrack` (a command, run with the controller's command line)
        // profiles the controller; its figures are then the wrapper's. The controller leads a
        // process group of its own, so that stopping it stops a wrapper's children too.
        let wrap = std::env::var("CAPSTAN_BENCH_WRAP").unwrap_or_default();
        let child = Command::new("setpriv")
            .process_group(0)
            .args(["--pdeathsig", "KILL", "--"])
            .args(wrap.split_whitespace())
            .arg(env!("CARGO_BIN_EXE_capstan"))
            .arg("controller")
            .arg("--kubeconfig")
            .arg(args.kubeconfig)
            .args(["--namespace", args.namespace])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--poll-interval", args.poll_interval])
            .arg("--git-cache")
            .arg(args.git_cache)
            .args(args.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting capstan controller")?;
        let mut controller = Controller {
            child,
            log: args.log.to_owned(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = controller.child.try_wait()? {
                bail!(
                    "capstan controller exited during startup ({status}); its log:\n{}",
                    controller.log_tail()
                );
            }
            if http_status(port, "/readyz").is_ok_and(|code| code == 200) {
                return Ok(controller);
            }
            if Instant::now() > deadline {
                bail!(
                    "capstan controller was not ready within 60 s; its log:\n{}",
                    controller.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the end of its log, when the controller has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "capstan controller exited ({status}); its log:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The end of the controller's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or(&text).to_owned()
    }

    /// The sum of `capstan_reconciles_total` for `results`, from its `/metrics`.
    pub fn reconciles(&self, results: &[&str]) -> anyhow::Result<f64> {
        let scrape = http_get(self.port, "/metrics")?;
        let count = |result: &&str| {
            let series = format!("capstan_reconciles_total{{result=\"{result}\"");
            let line = scrape.lines().find(|l| l.starts_with(&series));
            line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(results.iter().map(count).sum())
    }

    /// Stops the controller with SIGTERM and waits for it (SIGKILL after 15 s).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let group = format!("-{}", self.child.id());
        Command::new("kill")
            .args(["-TERM", "--", &group])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!("capstan controller did not stop within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The response (status line, headers, body) to `GET http://127.0.0.1:<port><path>`.
fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The status code of `GET http://127.0.0.1:<port><path>`.
fn http_status(port: u16, path: &str) -> anyhow::Result<u16> {
    let response = http_get(port, path)?;
    let code = response
        .split_whitespace()
        .nth(1)
        .context("no status line")?;
    Ok(code.parse()?)
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th.
    let after = stat.rsplit_once(") ").context("/proc stat format")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// A process's resident memory in MiB: its peak so far and now.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmHWM`.
    pub peak: f64,
    /// `VmRSS`.
    pub now: f64,
    /// Of `VmRSS`: anonymous memory (`RssAnon`: the heap, stacks) and pages of files
    /// (`RssFile`: the binary's and its libraries' code and data as far as it was touched).
    pub anon: f64,
    pub file: f64,
}

impl Memory {
    /// The resident memory of process `pid`, from `/proc/PID/status`.
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Memory {
            peak: status_mib(&status, "VmHWM:")?,
            now: status_mib(&status, "VmRSS:")?,
            anon: status_mib(&status, "RssAnon:")?,
            file: status_mib(&status, "RssFile:")?,
        })
    }
}

/// The figure of `field` (in kB) of a `/proc/PID/status` text, in MiB.
fn status_mib(status: &str, field: &str) -> anyhow::Result<f64> {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc status"))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("{field} format"))?
        .parse()?;
    Ok(kib / 1024.0)
}
