//! A cache that fetches for weeks keeps few pack files. Every fetch adds one pack and libgit2
//! never repacks, so a repository with a commit every few minutes would gather thousands, each
//! one more index to search on every object read (regression: one pack per fetch, kept forever).
//! Here 40 commits are fetched one at a time, over HTTP (protocol v2 fetches) and over git://
//! (libgit2's), from full and shallow caches; the packs stay few and every commit, branch and
//! signed-tag object fetched stays readable.

mod common;

use std::path::Path;

use capstan_git::{CacheLimits, Credentials, RepoCache};
use capstan_testenv::{Content, GitServers, commit_files, run_git};
use common::{cache_dir, http_creds, repo_name};

/// The most pack files a cached repository may hold (the cache consolidates past 24).
const MOST_PACKS: usize = 25;

/// The pack files under `dir`, at any depth.
fn packs(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                packs(&path)
            } else {
                usize::from(path.extension().is_some_and(|e| e == "pack"))
            }
        })
        .sum()
}

async fn forty_fetches(
    cache: &RepoCache,
    root: &Path,
    url: &str,
    creds: &Credentials,
    repo: &Path,
) -> anyhow::Result<()> {
    let mut commits = Vec::new();
    for i in 0..40 {
        let text = format!("i: {i}\n");
        let sha = commit_files(
            repo,
            "main",
            &[("app/cm.yaml", Content::File(&text))],
            "next",
        )?;
        if i == 20 {
            run_git(repo, &["tag", "-a", "-m", "release", "v1", &sha])?;
        }
        let resolved = cache.resolve(url, creds, "main").await?;
        anyhow::ensure!(resolved.commit.sha == sha, "not at commit {i}");
        commits.push((sha, text));
    }
    let held = packs(root);
    anyhow::ensure!(
        held <= MOST_PACKS,
        "{held} pack files after 40 fetches of {url}"
    );
    // Everything fetched stays readable: the head, an older commit by SHA, the tag.
    for (sha, text) in [&commits[39], &commits[25]] {
        let resolved = cache.resolve(url, creds, sha).await?;
        let tree = cache.tree(url, &resolved.access, sha).await?;
        anyhow::ensure!(tree.read_file("app/cm.yaml")? == text.as_bytes());
    }
    let tagged = cache.resolve(url, creds, "v1").await?;
    anyhow::ensure!(tagged.commit.sha == commits[20].0, "the tag");
    Ok(())
}

#[tokio::test]
async fn forty_fetches_leave_few_pack_files_and_everything_readable() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let shallow = CacheLimits {
        shallow_depth: Some(1),
        ..CacheLimits::default()
    };
    for (transport, limits) in [
        ("http", CacheLimits::default()),
        ("git", CacheLimits::default()),
        ("http", shallow.clone()),
    ] {
        let name = repo_name(&format!("packs-{transport}"));
        let repo = servers.create_repo(&name)?;
        commit_files(
            &repo,
            "main",
            &[("app/cm.yaml", Content::File("i: -1\n"))],
            "first",
        )?;
        let root = cache_dir(servers, "packs");
        let cache = RepoCache::new(root.clone(), limits.clone());
        let (url, creds) = match transport {
            "http" => (servers.http_url(&name), http_creds(servers)),
            _ => {
                let port = servers.ports().2;
                let url = format!("git://127.0.0.1:{port}/{name}");
                (url, Credentials::none())
            }
        };
        forty_fetches(&cache, &root, &url, &creds, &repo)
            .await
            .map_err(|e| e.context(format!("{transport}, shallow {:?}", limits.shallow_depth)))?;
    }
    Ok(())
}
