//! Waiting for a component to become ready: poll a probe until it answers, the component exits,
//! or a timeout passes — each outcome a distinct error naming the component and its log.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::process::Component;

/// How often a probe is retried while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Polls `probe` until it returns true. Fails as soon as `component` exits, or after `timeout`.
pub async fn wait_until<F, Fut>(
    component: &mut Component,
    timeout: Duration,
    what: &str,
    mut probe: F,
) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if let Some(status) = component.exit_status() {
            return Err(Error::Exited {
                component: component.name(),
                status: status.to_string(),
                log: component.log().to_owned(),
                tail: component.log_tail(),
            });
        }
        if probe().await {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Error::NotReady {
                component: component.name(),
                what: what.to_owned(),
                timeout,
                log: component.log().to_owned(),
                tail: component.log_tail(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// True when a plain-HTTP `GET path` on `addr` answers 200 (etcd's `/health`, kwok's `/healthz`).
pub async fn http_ok(addr: &str, path: &str) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(response)) => status_is_ok(&response),
        _ => false,
    }
}

/// True when an HTTPS `GET path` through `client` (which verifies the CA) succeeds.
pub async fn https_ok(client: &kube::Client, path: &str) -> bool {
    let Ok(request) = http::Request::get(path).body(Vec::new()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), client.request_text(request)).await,
        Ok(Ok(_))
    )
}

/// Whether an HTTP/1.x response's status line says 200.
fn status_is_ok(response: &[u8]) -> bool {
    let line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    matches!(
        (words.next(), words.next()),
        (Some(version), Some(b"200")) if version.starts_with(b"HTTP/1.")
    )
}

/// A free TCP port on loopback, as the kernel hands it out.
pub fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::Prepare {
            what: "a free port".to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{status_is_ok, wait_until};
    use crate::Error;
    use crate::process::Component;

    fn log_path(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("capstan-testenv-ready-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{name}.log"))
    }

    #[tokio::test]
    async fn a_component_that_crashes_during_startup_is_named_with_its_status_and_log() {
        let script = [
            "-c".to_owned(),
            "echo 'listen tcp: address already in use' >&2; exit 3".to_owned(),
        ];
        let mut crasher = Component::spawn(
            "crasher",
            Path::new("/bin/sh"),
            &script,
            log_path("crasher"),
        )
        .unwrap();
        let err = wait_until(&mut crasher, Duration::from_secs(30), "never", || async {
            false
        })
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Exited {
                    component: "crasher",
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("crasher exited during startup (exit status: 3)"),
            "{message}"
        );
        assert!(message.contains("address already in use"), "{message}");
        assert!(message.contains("crasher.log"), "{message}");
    }

    #[tokio::test]
    async fn a_component_that_never_becomes_ready_times_out_instead_of_hanging() {
        let args = ["60".to_owned()];
        let mut sleeper = Component::spawn(
            "sleeper",
            Path::new("/bin/sleep"),
            &args,
            log_path("sleeper"),
        )
        .unwrap();
        let err = wait_until(
            &mut sleeper,
            Duration::from_millis(300),
            "GET /healthz",
            || async { false },
        )
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("sleeper did not become ready (GET /healthz)"),
            "{message}"
        );
        sleeper.stop();
        assert!(
            sleeper.exit_status().is_some(),
            "stop() must end the process"
        );
    }

    #[test]
    fn only_a_200_status_line_counts_as_ready() {
        assert!(status_is_ok(
            b"HTTP/1.1 200 OK\r\n\r\n{\"health\":\"true\"}"
        ));
        assert!(status_is_ok(b"HTTP/1.0 200 OK\r\n"));
        assert!(!status_is_ok(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!status_is_ok(b"HTTP/1.1 2000 OK\r\n"));
        assert!(!status_is_ok(b""));
        assert!(!status_is_ok(b"SSH-2.0-OpenSSH 200\r\n"));
    }
}
