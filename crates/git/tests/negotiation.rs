//! Incremental fetches: after a one-file commit in a 1,000-file repository, the cache's fetch
//! transfers the change, not the whole snapshot — bytes counted in the HTTP server's access log,
//! for each of 30 one-file commits fetched one after the other.

mod common;

use anyhow::ensure;
use capstan_testenv::{Content, GitServers, commit_files};
use common::{cache, http_creds, is_fetch, repo_name, thousand_files};

/// The bytes the server sent for each successful `git-upload-pack` POST of `repo`.
fn upload_pack_bytes(servers: &GitServers, repo: &str) -> Vec<u64> {
    servers
        .access_log()
        .lines()
        .filter(|l| is_fetch(l, repo))
        .filter_map(|l| {
            l.split("\" 200 ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test]
async fn a_fetch_after_a_one_file_commit_transfers_the_change_not_the_snapshot()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("incremental");
    let repo = thousand_files(servers, &name)?;
    let (url, creds, cache) = (
        servers.http_url(&name),
        http_creds(servers),
        cache(servers, "incremental"),
    );
    cache.resolve(&url, &creds, "main").await?;
    let first = upload_pack_bytes(servers, &name);

    // A history of one-file commits, each fetched, as a controller sees them arrive; the last
    // fetch is measured.
    let mut seen = first.len();
    let mut incremental = 0;
    let mut all = Vec::new();
    for n in 0..30 {
        let text = format!("changed: {n}\n");
        let change = [("apps/app-00/manifest-0000.yaml", Content::File(&text))];
        let sha = commit_files(&repo, "main", &change, "one")?;
        ensure!(cache.resolve(&url, &creds, "main").await?.commit.sha == sha);
        all = upload_pack_bytes(servers, &name);
        incremental = all[seen..].iter().sum();
        seen = all.len();
    }
    let snapshot: u64 = first.iter().sum();
    eprintln!(
        "first fetch {snapshot} bytes; after a one-file commit {incremental} bytes ({all:?})"
    );
    ensure!(
        incremental <= 10_000,
        "a one-file commit fetched {incremental} bytes (the snapshot is {snapshot})"
    );
    Ok(())
}
