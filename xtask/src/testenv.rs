//! `cargo xtask testenv`: builds the Kubernetes test binaries from the Go modules pinned in
//! `crates/testenv/k8s/go.mod` into a cache outside the repository, and starts or stops a
//! control plane in the background for use with kubectl.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{cargo, run};

/// kwok release for fake nodes and pods; `capstan-testenv` names the same one, and the wrapper
/// module `crates/testenv/kwok` requires it (checked before every kwok build).
const KWOK_VERSION: &str = "v0.8.0";

/// kwok's main package, built from its wrapper module.
const KWOK_PACKAGE: &str = "sigs.k8s.io/kwok/cmd/kwok";

/// The components built from the wrapper module, and their Go packages.
const COMPONENTS: &[(&str, &str)] = &[
    ("etcd", "go.etcd.io/etcd/server/v3"),
    ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),
    (
        "kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
    ),
    ("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"),
];

/// How long `up` and `demo` wait for the control plane.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// The repository root.
pub fn workspace_root() -> PathBuf {
    // `cargo run` says where the manifest is now; the path compiled in is where xtask was built,
    // which a target directory shared between checkouts may have built from another one.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// `~/.cache/capstan` (or `$XDG_CACHE_HOME/capstan`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("capstan")
}

/// Builds whichever test binaries are missing and returns their directory.
pub fn build() -> anyhow::Result<PathBuf> {
    let module = workspace_root().join("crates/testenv/k8s");
    let go_mod =
        std::fs::read_to_string(module.join("go.mod")).context("reading the wrapper go.mod")?;
    let version = go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("require k8s.io/kubernetes "))
        .map(str::trim)
        .context("the wrapper go.mod does not require k8s.io/kubernetes")?;
    let dir = cache_dir()
        .join("testenv")
        .join(format!("k8s-{version}-kwok-{KWOK_VERSION}"));
    std::fs::create_dir_all(&dir)?;
    let minor = version
        .split('.')
        .nth(1)
        .context("malformed Kubernetes version")?;
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={version} \
         -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor={minor}"
    );
    for (name, package) in COMPONENTS {
        let target = dir.join(name);
        if target.is_file() {
            continue;
        }
        eprintln!("xtask: building {name} {version} from the Go modules (cold: several minutes)");
        let start = Instant::now();
        let partial = dir.join(format!("{name}.partial"));
        run(go()
            .current_dir(&module)
            .args(["build", "-trimpath", "-ldflags", &ldflags, "-o"])
            .arg(&partial)
            .arg(package))?;
        std::fs::rename(&partial, &target)?;
        eprintln!(
            "xtask: built {name} in {:.0}s",
            start.elapsed().as_secs_f64()
        );
    }
    let kwok = dir.join("kwok");
    if !kwok.is_file() {
        build_kwok(&kwok)?;
    }
    eprintln!("xtask: test binaries in {}", dir.display());
    Ok(dir)
}

/// Builds kwok into `target` from its own wrapper module (`crates/testenv/kwok`), whose go.sum
/// pins kwok and every module it depends on.
fn build_kwok(target: &Path) -> anyhow::Result<()> {
    let module = kwok_module();
    let required = required_kwok_version(&module)?;
    if required != KWOK_VERSION {
        bail!(
            "{} requires kwok {required} but xtask names {KWOK_VERSION}; keep them in step",
            module.join("go.mod").display()
        );
    }
    eprintln!(
        "xtask: building kwok {KWOK_VERSION} from {}",
        module.display()
    );
    let partial = target.with_extension("partial");
    run(go()
        .current_dir(&module)
        .args(["build", "-trimpath", "-ldflags", "-s -w", "-o"])
        .arg(&partial)
        .arg(KWOK_PACKAGE))?;
    std::fs::rename(&partial, target)?;
    Ok(())
}

/// kwok's wrapper module.
fn kwok_module() -> PathBuf {
    workspace_root().join("crates/testenv/kwok")
}

/// The kwok version the wrapper module's go.mod requires.
fn required_kwok_version(module: &Path) -> anyhow::Result<String> {
    let go_mod = std::fs::read_to_string(module.join("go.mod"))
        .context("reading the kwok wrapper go.mod")?;
    go_mod
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("require sigs.k8s.io/kwok ")
                .or_else(|| l.strip_prefix("sigs.k8s.io/kwok "))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .context("the kwok wrapper go.mod does not require sigs.k8s.io/kwok")
}

/// A `go` command that never downloads a toolchain and builds static binaries.
fn go() -> Command {
    let mut command = Command::new("go");
    command
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-buildvcs=false");
    command
}

/// Builds the `capstan-testenv` supervisor and returns its path.
pub fn build_supervisor() -> anyhow::Result<PathBuf> {
    cargo(
        &[
            "build",
            "--quiet",
            "--package",
            "capstan-testenv",
            "--bin",
            "capstan-testenv",
        ],
        &[],
    )?;
    supervisor_path()
}

/// Where cargo puts the `capstan-testenv` supervisor.
fn supervisor_path() -> anyhow::Result<PathBuf> {
    debug_binary("capstan-testenv")
}

/// Where cargo puts the debug build of the workspace binary `name`.
pub fn debug_binary(name: &str) -> anyhow::Result<PathBuf> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .current_dir(workspace_root())
        .exec()
        .context("cargo metadata")?;
    Ok(metadata
        .target_directory
        .join("debug")
        .join(name)
        .into_std_path_buf())
}

/// Starts the supervisor with `--state-dir state`, detached or in the foreground.
pub fn spawn_supervisor(state: &Path, workloads: bool, detached: bool) -> anyhow::Result<Child> {
    let bin_dir = build()?;
    let supervisor = build_supervisor()?;
    std::fs::create_dir_all(state)?;
    // A supervisor that was killed leaves its `ready` behind; waiting must not take it for ours.
    for stale in ["ready", "error"] {
        let _ = std::fs::remove_file(state.join(stale));
    }
    let mut command = if detached {
        // Its own session: it outlives this command and ignores the terminal's Ctrl-C.
        let log = std::fs::File::create(state.join("supervisor.log"))?;
        let mut c = Command::new("setsid");
        c.arg(&supervisor).stdout(log.try_clone()?).stderr(log);
        c
    } else {
        let mut c = Command::new(&supervisor);
        c.stdout(Stdio::null());
        c
    };
    command
        .arg("--state-dir")
        .arg(state)
        .args(workloads.then_some("--workloads"))
        .env("CAPSTAN_TESTENV_BIN_DIR", &bin_dir)
        .stdin(Stdio::null());
    command.spawn().context("starting capstan-testenv")
}

/// Waits for the supervisor to write `ready` (returns the apiserver URL) or `error`.
pub fn wait_ready(state: &Path, supervisor: &mut Child) -> anyhow::Result<String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(server) = std::fs::read_to_string(state.join("ready")) {
            return Ok(server);
        }
        if let Ok(error) = std::fs::read_to_string(state.join("error")) {
            bail!("the control plane did not start: {error}");
        }
        if let Some(status) = supervisor.try_wait()? {
            bail!(
                "capstan-testenv exited ({status}); see {}",
                state.join("supervisor.log").display()
            );
        }
        if Instant::now() > deadline {
            bail!("the control plane was not ready after {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Environment variable that overrides the state directory of `up` and `down`.
const STATE_ENV: &str = "CAPSTAN_TESTENV_STATE_DIR";

/// `$CAPSTAN_TESTENV_STATE_DIR`, else `~/.cache/capstan/testenv-up`.
fn up_state() -> PathBuf {
    std::env::var_os(STATE_ENV).map_or_else(|| cache_dir().join("testenv-up"), PathBuf::from)
}

/// `cargo xtask testenv up`: prints the kubeconfig path on stdout, guidance on stderr.
pub fn up(workloads: bool) -> anyhow::Result<()> {
    let state = up_state();
    let kubeconfig = state.join("kubeconfig");
    if let Some(pid) = running_pid(&state) {
        eprintln!(
            "xtask: a control plane is already running (pid {pid}); stop it with `cargo xtask testenv down`"
        );
        println!("{}", kubeconfig.display());
        return Ok(());
    }
    let mut supervisor = spawn_supervisor(&state, workloads, true)?;
    let server = wait_ready(&state, &mut supervisor)?;
    eprintln!("xtask: control plane ready at {server}");
    eprintln!(
        "xtask:   kubectl --kubeconfig {} get namespaces",
        kubeconfig.display()
    );
    eprintln!(
        "xtask:   read-only identity: {}",
        state.join("unprivileged.kubeconfig").display()
    );
    eprintln!("xtask:   stop it with `cargo xtask testenv down`");
    println!("{}", kubeconfig.display());
    Ok(())
}

/// `cargo xtask testenv down`: the supervisor's `--stop` stops the supervisor and the components
/// it recorded in its state directory, and nothing else (see `capstan_testenv::supervisor`).
pub fn down() -> anyhow::Result<()> {
    let state = up_state();
    if running_pid(&state).is_none() {
        eprintln!("xtask: no control plane is running");
        return Ok(());
    }
    // The binary that `up` started; built only if it has gone since.
    let mut supervisor = supervisor_path()?;
    if !supervisor.is_file() {
        supervisor = build_supervisor()?;
    }
    run(Command::new(supervisor)
        .arg("--state-dir")
        .arg(&state)
        .arg("--stop"))
}

/// The supervisor's pid if it is still running.
fn running_pid(state: &Path) -> Option<u32> {
    let pid = std::fs::read_to_string(state.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_alive(pid).then_some(pid)
}

fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

#[cfg(test)]
mod tests {
    use super::{KWOK_VERSION, kwok_module, required_kwok_version};

    #[test]
    fn kwok_is_built_from_a_wrapper_module_whose_go_sum_pins_the_named_release() {
        let module = kwok_module();
        assert_eq!(required_kwok_version(&module).unwrap(), KWOK_VERSION);
        let go_sum = std::fs::read_to_string(module.join("go.sum")).expect("kwok's go.sum");
        for entry in [
            format!("sigs.k8s.io/kwok {KWOK_VERSION} h1:"),
            format!("sigs.k8s.io/kwok {KWOK_VERSION}/go.mod h1:"),
        ] {
            assert!(go_sum.contains(&entry), "go.sum lacks {entry:?}");
        }
    }
}
