//! A big repository — 20,000 files, 10,000 commits, written by `git fast-import` — served over
//! HTTP: a depth-1 first fetch transfers about what `git clone --depth 1` does (counted by a
//! byte-counting proxy in front of the server, both ways), and one fetch into one cache entry
//! serves 50 Applications reading 50 different paths of its head commit.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use capstan_git::{CacheLimits, EntryKind, GitTree, RepoCache};
use capstan_testenv::{BigRepo, CountingProxy, GitServers};
use common::{cache, cache_dir, http_creds, repo_name};
use tokio::sync::OnceCell;

const SHAPE: BigRepo = BigRepo::TWENTY_THOUSAND_FILES;

/// The big repository on the servers (written once per test binary): its name and head.
async fn big_repo(servers: &GitServers) -> anyhow::Result<&'static (String, String)> {
    static REPO: OnceCell<(String, String)> = OnceCell::const_new();
    REPO.get_or_try_init(|| async {
        let name = repo_name("big");
        let repo: PathBuf = servers.create_repo(&name)?;
        let started = Instant::now();
        let head = SHAPE.write(&repo)?;
        eprintln!("{SHAPE:?} written in {:?}", started.elapsed());
        Ok((name, head))
    })
    .await
}

/// Every file under `dir` of `tree`: how many, and their bytes.
fn read_all(tree: &GitTree, dir: &str) -> anyhow::Result<(usize, usize)> {
    let (mut files, mut bytes) = (0, 0);
    for (name, kind) in tree.read_dir(dir)? {
        let path = format!("{dir}/{name}");
        match kind {
            EntryKind::Dir => {
                let (f, b) = read_all(tree, &path)?;
                (files, bytes) = (files + f, bytes + b);
            }
            EntryKind::File => (files, bytes) = (files + 1, bytes + tree.read_file(&path)?.len()),
            EntryKind::Submodule => {}
        }
    }
    Ok((files, bytes))
}

#[tokio::test]
async fn a_depth_1_first_fetch_of_a_big_repository_costs_at_most_1_2x_git_clone_depth_1()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let (name, head) = big_repo(servers).await?;
    let proxy = CountingProxy::start(servers.ports().0)?;
    let url = format!("http://127.0.0.1:{}/git/{name}", proxy.port());

    let (git_clone, git_time) = common::git_clone_depth_1(servers, &proxy, name)?;

    let limits = CacheLimits {
        shallow_depth: Some(1),
        ..CacheLimits::default()
    };
    let shallow = RepoCache::new(cache_dir(servers, "big-shallow"), limits);
    let creds = http_creds(servers);
    let (before, started) = (proxy.transfer(), Instant::now());
    let resolved = shallow.resolve(&url, &creds, "main").await?;
    let (capstan, capstan_time) = (proxy.transfer().since(before), started.elapsed());
    anyhow::ensure!(&resolved.commit.sha == head);
    let tree = shallow.tree(&url, &resolved.access, head).await?;
    let (files, _) = tokio::task::spawn_blocking(move || read_all(&tree, "group-09")).await??;
    anyhow::ensure!(files == SHAPE.apps * SHAPE.files, "{files} files");

    eprintln!(
        "big repository, depth 1: git clone --depth 1 {git_clone:?} in {git_time:?}; \
         capstan {capstan:?} in {capstan_time:?}; {:.2}x",
        capstan.bytes() as f64 / git_clone.bytes() as f64
    );
    assert!(
        capstan.bytes() * 10 <= git_clone.bytes() * 12,
        "a depth-1 first fetch: {capstan:?}, git clone --depth 1: {git_clone:?}"
    );
    Ok(())
}

#[tokio::test]
async fn fifty_applications_at_different_paths_of_a_big_repository_share_one_fetch()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let (name, head) = big_repo(servers).await?;
    let proxy = CountingProxy::start(servers.ports().0)?;
    let url = format!("http://127.0.0.1:{}/git/{name}", proxy.port());
    let (creds, cache) = (http_creds(servers), cache(servers, "big-fifty"));
    let started = Instant::now();
    cache.resolve(&url, &creds, "main").await?;
    let fetched = started.elapsed();

    // 50 Applications, one Application directory each, spread over every group.
    let paths: Vec<String> = SHAPE.app_paths().into_iter().step_by(20).take(50).collect();
    anyhow::ensure!(paths.len() == 50);
    let started = Instant::now();
    for path in &paths {
        // Each Application's periodic re-compare takes the check a poll keeps fresh.
        let resolved = cache
            .resolve_within(&url, &creds, "main", Duration::from_secs(30))
            .await?;
        anyhow::ensure!(&resolved.commit.sha == head);
        let tree = cache.tree(&url, &resolved.access, head).await?;
        let path = path.clone();
        let (files, _) = tokio::task::spawn_blocking(move || read_all(&tree, &path)).await??;
        anyhow::ensure!(files == SHAPE.files, "{files} files");
    }
    let read = started.elapsed();
    eprintln!("big repository: first fetch {fetched:?}; 50 Applications read in {read:?}");
    let stats = cache.stats();
    assert_eq!((stats.checks, stats.fetches), (1, 1), "{stats:?}");
    // On the wire: the listing and the fetch, nothing more.
    assert_eq!(proxy.transfer().connections, 2, "{:?}", proxy.transfer());
    Ok(())
}
