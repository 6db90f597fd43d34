//! Shared helpers of the `capstan` end-to-end tests: manifest directories on disk, running the
//! real binary against the test control plane, and reading live objects.

#![allow(dead_code)]

pub mod app;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_testenv::TestContext;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use serde_json::Value;

/// Writes `files` (path, content) under a fresh directory named after the test namespace and
/// `label`; returns the directory.
pub fn write_dir(
    ctx: &TestContext,
    label: &str,
    files: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir()
        .join("capstan-cli-tests")
        .join(&ctx.namespace)
        .join(label);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().context("file without parent")?)?;
        std::fs::write(&path, content)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A ConfigMap `name` whose `key` is `value`, as YAML.
pub fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: \"{value}\"\n"
    )
}

/// Runs `capstan <command> <dir> -n <namespace> --kubeconfig <capstan's> <extra…>` as the test's
/// own Capstan identity (cluster-admin), so the audit log tells its requests apart.
pub async fn capstan(
    ctx: &TestContext,
    command: &str,
    dir: &Path,
    namespace: &str,
    extra: &[&str],
) -> anyhow::Result<Output> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .arg(command)
        .arg(dir)
        .args(["-n", namespace, "--kubeconfig"])
        .arg(&ctx.capstan_kubeconfig)
        .args(extra)
        .output()
        .await
        .context("failed to run capstan")?;
    Ok(output)
}

/// `capstan <args…> --kubeconfig <capstan's>`, to run or spawn.
pub fn capstan_cmd(ctx: &TestContext, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"));
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(&ctx.capstan_kubeconfig);
    command
}

/// The exit code, stdout and stderr of a run, for assertions and failure messages.
pub fn show(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a command and fails unless it exits with `code`; returns stdout.
pub async fn expect_exit(
    ctx: &TestContext,
    command: &str,
    dir: &Path,
    namespace: &str,
    extra: &[&str],
    code: i32,
) -> anyhow::Result<String> {
    let (got, stdout, stderr) = show(&capstan(ctx, command, dir, namespace, extra).await?);
    if got != code {
        bail!(
            "capstan {command} exited {got}, expected {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    Ok(stdout)
}

/// A dynamic API for a built-in resource.
pub fn api(
    ctx: &TestContext,
    namespace: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(ctx.client.clone(), namespace, &resource)
}

/// The live object, as JSON, or `None` when absent.
pub async fn get(api: &Api<DynamicObject>, name: &str) -> anyhow::Result<Option<Value>> {
    Ok(api
        .get_opt(name)
        .await?
        .map(serde_json::to_value)
        .transpose()?)
}

/// Polls `check` every 200 ms until it returns `Some`, failing after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The changed lines of a unified diff (without the `---`/`+++` headers).
pub fn changed_lines(diff: &str) -> Vec<String> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(str::to_owned)
        .collect()
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The body of `GET http://127.0.0.1:<port><path>` and its status line.
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}
