//! The big repository (20,000 files, 10,000 commits, written by `git fast-import`) over loopback
//! HTTP: a depth-1 first fetch beside `git clone --depth 1`; reading one Application's path of
//! the head commit — 20 files, 2,000 files, the whole tree — from a warm cache; and 50
//! Applications at 50 paths served by one cache entry and one fetch.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use capstan_git::{CacheLimits, Credentials, RepoCache};
use capstan_testenv::{BigRepo, GitServers};
use criterion::{BatchSize, Criterion};

use super::read_all;

const SHAPE: BigRepo = BigRepo::TWENTY_THOUSAND_FILES;

struct Big {
    url: String,
    authed_url: String,
    creds: Credentials,
    head: String,
    scratch: PathBuf,
    fresh: AtomicUsize,
}

impl Big {
    fn new(servers: &'static GitServers, creds: &Credentials) -> Self {
        let name = format!("bench-big-{}.git", std::process::id());
        let repo = servers.create_repo(&name).expect("repo");
        let head = SHAPE.write(&repo).expect("git fast-import");
        let (user, password) = servers.http_credentials();
        let url = servers.http_url(&name);
        let authed_url = url.replace("http://", &format!("http://{user}:{password}@"));
        let scratch = servers
            .dir()
            .join(format!("bench-big-{}", std::process::id()));
        Self {
            url,
            authed_url,
            creds: creds.clone(),
            head,
            scratch,
            fresh: AtomicUsize::new(0),
        }
    }

    /// A directory no iteration used before.
    fn fresh_dir(&self) -> PathBuf {
        let n = self.fresh.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.join(format!("{n}"));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }
}

/// The big repository's benchmarks, on the shared git servers with `creds`.
pub fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, creds: &Credentials) {
    let servers = rt.block_on(GitServers::shared()).expect("git servers");
    let big = Big::new(servers, creds);

    let mut group = c.benchmark_group("depth-1 first fetch (20,000 files, 10,000 commits)");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("capstan-git (CacheLimits::shallow_depth 1)", |b| {
        b.iter_batched(
            || {
                let limits = CacheLimits {
                    shallow_depth: Some(1),
                    ..CacheLimits::default()
                };
                RepoCache::new(big.fresh_dir(), limits)
            },
            |cache| {
                rt.block_on(cache.resolve(&big.url, &big.creds, "main"))
                    .expect("resolve")
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("git clone --depth 1", |b| {
        b.iter_batched(
            || big.fresh_dir().join("clone"),
            |target| {
                let status = std::process::Command::new("git")
                    .args([
                        "clone",
                        "--quiet",
                        "--bare",
                        "--depth",
                        "1",
                        &big.authed_url,
                    ])
                    .arg(&target)
                    .env("GIT_TERMINAL_PROMPT", "0")
                    .status()
                    .expect("git clone");
                assert!(status.success(), "git clone --depth 1: {status}");
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let cache = RepoCache::new(big.fresh_dir(), CacheLimits::default());
    rt.block_on(cache.resolve(&big.url, &big.creds, "main"))
        .expect("the whole history");
    let mut group = c.benchmark_group("read one path of the head (20,000-file repository)");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let paths = [
        ("20 files (one Application)", BigRepo::app_path(4, 2)),
        ("2,000 files (one group)", BigRepo::group_path(4)),
        ("20,000 files (the whole tree)", String::new()),
    ];
    for (label, path) in paths {
        // A fresh proof of access for each measurement (it lasts the authorization bound).
        let access = rt
            .block_on(cache.resolve(&big.url, &big.creds, "main"))
            .expect("resolve")
            .access;
        group.bench_function(label, |b| {
            b.iter(|| {
                let tree = rt
                    .block_on(cache.tree(&big.url, &access, &big.head))
                    .expect("tree");
                read_all(&tree, &path)
            })
        });
    }
    group.finish();

    // 50 Applications, one directory each, spread over every group: each takes the check a poll
    // keeps fresh, opens the head's tree and reads its directory.
    let apps: Vec<String> = SHAPE.app_paths().into_iter().step_by(20).take(50).collect();
    let before = cache.stats();
    rt.block_on(cache.resolve(&big.url, &big.creds, "main"))
        .expect("resolve");
    let mut group = c.benchmark_group("one cache entry, one fetch (20,000-file repository)");
    group.sample_size(20);
    group.bench_function("50 Applications at 50 paths", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut total = 0;
                for path in &apps {
                    let resolved = cache
                        .resolve_within(&big.url, &big.creds, "main", Duration::from_secs(50))
                        .await
                        .expect("resolve");
                    let tree = cache
                        .tree(&big.url, &resolved.access, &resolved.commit.sha)
                        .await
                        .expect("tree");
                    let path = path.clone();
                    total += tokio::task::spawn_blocking(move || read_all(&tree, &path))
                        .await
                        .expect("read");
                }
                total
            })
        })
    });
    group.finish();
    let after = cache.stats();
    assert_eq!(after.fetches, before.fetches, "the 50 Applications fetched");
    eprintln!(
        "50 Applications: {} check(s), {} fetch(es) besides the first one",
        after.checks - before.checks,
        after.fetches - before.fetches
    );
    let _ = std::fs::remove_dir_all(&big.scratch);
}
