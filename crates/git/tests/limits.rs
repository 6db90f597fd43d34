//! Bounds of the cache: a hung server costs its caller a timeout while other repositories go on,
//! and the least recently used repository leaves the cache when it grows past its limit.

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use capstan_git::{CacheLimits, Credentials, Error, RepoCache};
use capstan_testenv::{Content, GitServers, commit_files};
use common::{cache_dir, http_creds, repo_name};

/// A server that accepts connections and never answers. Dropping the returned handle closes
/// them, which ends any git operation still waiting on one.
fn silent_server() -> anyhow::Result<(String, Arc<Mutex<Vec<std::net::TcpStream>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!(
        "http://127.0.0.1:{}/silent.git",
        listener.local_addr()?.port()
    );
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().expect("lock").push(stream);
        }
    });
    Ok((url, held))
}

#[tokio::test]
async fn a_hung_server_times_out_without_blocking_other_repositories() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("healthy");
    let repo = servers.create_repo(&name)?;
    let sha = commit_files(&repo, "main", &[("a.yaml", Content::File("a: 1\n"))], "one")?;
    let limits = CacheLimits {
        operation_timeout: Duration::from_secs(2),
        ..CacheLimits::default()
    };
    let cache = RepoCache::new(cache_dir(servers, "hung"), limits);
    let (silent, held) = silent_server()?;

    let started = Instant::now();
    let hung = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.resolve(&silent, &Credentials::none(), "main").await })
    };
    let healthy = cache
        .resolve(&servers.http_url(&name), &http_creds(servers), "main")
        .await?;
    ensure!(healthy.commit.sha == sha);
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "the healthy repository waited for the hung one"
    );

    let err = hung.await?.err().context("the silent server answered")?;
    ensure!(
        matches!(err, Error::Timeout { .. }),
        "expected a timeout, got {err}"
    );
    ensure!(err.to_string().contains("timed out after 2s"), "{err}");
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout took {:?}",
        started.elapsed()
    );
    held.lock().expect("lock").clear();
    Ok(())
}

/// A server that reads each request and hangs up without answering.
fn hanging_up_server() -> anyhow::Result<String> {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!(
        "http://127.0.0.1:{}/gone.git",
        listener.local_addr()?.port()
    );
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
        }
    });
    Ok(url)
}

/// Regression: libgit2 reports a server that hangs up as "unexpected EOF" in its HTTP class with
/// a generic code, which was classified as a protocol failure (`RepositoryUnavailable`, not
/// retried), so one dropped connection stalled an Application for good.
#[tokio::test]
async fn a_server_that_hangs_up_is_a_retryable_connection_failure() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let cache = RepoCache::new(cache_dir(servers, "hang-up"), CacheLimits::default());
    let url = hanging_up_server()?;
    let err = cache
        .resolve(&url, &Credentials::none(), "main")
        .await
        .err()
        .context("a server that hangs up answered")?;
    ensure!(
        err.is_retryable(),
        "not retryable: {err} ({:?})",
        err.reason()
    );
    ensure!(
        err.reason() == capstan_api::Reason::FetchFailed,
        "{err}: {:?}",
        err.reason()
    );
    Ok(())
}

#[tokio::test]
async fn the_least_recently_used_repository_is_evicted_past_the_size_limit() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let (a, b) = (repo_name("lru-a"), repo_name("lru-b"));
    for name in [&a, &b] {
        let repo = servers.create_repo(name)?;
        commit_files(
            &repo,
            "main",
            &[("a.yaml", Content::File(&"x".repeat(10_000)))],
            "one",
        )?;
    }
    let creds = http_creds(servers);
    // Measure one repository, then allow one and a half of them.
    let probe = RepoCache::new(cache_dir(servers, "lru-probe"), CacheLimits::default());
    probe.resolve(&servers.http_url(&a), &creds, "main").await?;
    let one = probe.disk_bytes();
    let dir = cache_dir(servers, "lru");
    let cache = RepoCache::new(
        &dir,
        CacheLimits {
            max_bytes: one * 3 / 2,
            ..CacheLimits::default()
        },
    );

    cache.resolve(&servers.http_url(&a), &creds, "main").await?;
    ensure!(std::fs::read_dir(&dir)?.count() == 1);
    cache.resolve(&servers.http_url(&b), &creds, "main").await?;
    let left: Vec<String> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure!(
        left.len() == 1 && left[0].contains("lru-b"),
        "expected only lru-b to remain, found {left:?}"
    );
    // The evicted repository is fetched again when asked for.
    ensure!(
        cache
            .resolve(&servers.http_url(&a), &creds, "main")
            .await
            .is_ok()
    );
    Ok(())
}
