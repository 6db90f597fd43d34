//! What a fetch and a check cost on the wire, over each transport: a loopback byte-counting
//! proxy in front of the HTTP, SSH and git:// servers counts every byte both ways. In a
//! 1,000-file repository, the fetch after a one-file commit transfers the change (at most
//! 10 KB; over HTTP the listing and one v2 fetch request), and a check that finds nothing new is
//! one connection of a few KB at most.

mod common;

use capstan_git::{CacheLimits, Credentials, RepoCache};
use capstan_testenv::{Content, CountingProxy, GitServers, Transfer, commit_files};
use common::{cache, http_creds, repo_name, ssh_creds, thousand_files};

/// The most a fetch after a one-file commit may transfer, both ways.
const INCREMENTAL_LIMIT: u64 = 10 * 1024;
/// The most a check that finds nothing new may transfer, both ways: "a few KB" — over SSH the
/// key exchange and authentication alone are about 4 KB.
const CHECK_LIMIT: u64 = 6 * 1024;

/// What one transport's fetches and checks transferred.
#[derive(Debug)]
struct Figures {
    first: Transfer,
    incremental: Transfer,
    check: Transfer,
}

/// First fetch, a one-file commit and its fetch, then a check with nothing new, through `proxy`.
async fn measure(
    servers: &GitServers,
    transport: &str,
    url: &str,
    creds: &Credentials,
    proxy: &CountingProxy,
    repo: &std::path::Path,
) -> anyhow::Result<Figures> {
    measure_with(
        cache(servers, transport),
        transport,
        url,
        creds,
        proxy,
        repo,
    )
    .await
}

/// [`measure`] with the cache `cache`.
async fn measure_with(
    cache: RepoCache,
    transport: &str,
    url: &str,
    creds: &Credentials,
    proxy: &CountingProxy,
    repo: &std::path::Path,
) -> anyhow::Result<Figures> {
    let start = proxy.transfer();
    cache.resolve(url, creds, "main").await?;
    let first = proxy.transfer().since(start);

    let change = Content::File("i: 7\nchanged: true\n");
    let commit = commit_files(
        repo,
        "main",
        &[("apps/app-07/manifest-0007.yaml", change)],
        "one",
    )?;
    let before = proxy.transfer();
    let resolved = cache.resolve(url, creds, "main").await?;
    let incremental = proxy.transfer().since(before);
    anyhow::ensure!(
        resolved.commit.sha == commit,
        "{transport}: not at the new commit"
    );

    let before = proxy.transfer();
    cache.resolve(url, creds, "main").await?;
    let check = proxy.transfer().since(before);
    Ok(Figures {
        first,
        incremental,
        check,
    })
}

/// A counting proxy in front of the SSH server, the URL of `repo` through it, and SSH
/// credentials whose known_hosts names the proxy's port.
fn ssh_through_proxy(
    servers: &GitServers,
    repo: &std::path::Path,
) -> anyhow::Result<(CountingProxy, String, Credentials)> {
    let (_, ssh_port, _) = servers.ports();
    let proxy = CountingProxy::start(ssh_port)?;
    let url = format!("ssh://root@127.0.0.1:{}{}", proxy.port(), repo.display());
    let mut creds = ssh_creds(servers);
    creds.known_hosts = creds
        .known_hosts
        .map(|line| line.replace(&format!("]:{ssh_port} "), &format!("]:{} ", proxy.port())));
    Ok((proxy, url, creds))
}

/// A counting proxy in front of the git:// server, and the URL of repository `name` through it.
fn daemon_through_proxy(
    servers: &GitServers,
    name: &str,
) -> anyhow::Result<(CountingProxy, String)> {
    let proxy = CountingProxy::start(servers.ports().2)?;
    let url = format!("git://127.0.0.1:{}/{name}", proxy.port());
    Ok((proxy, url))
}

fn assert_cheap(transport: &str, figures: &Figures) {
    eprintln!("{transport}: {figures:?}");
    assert!(
        figures.incremental.bytes() <= INCREMENTAL_LIMIT,
        "{transport}: the fetch after a one-file commit moved {} bytes: {figures:?}",
        figures.incremental.bytes()
    );
    assert!(
        figures.check.connections == 1 && figures.check.bytes() <= CHECK_LIMIT,
        "{transport}: a check with nothing new: {figures:?}"
    );
    assert!(
        figures.first.bytes() > 10 * figures.incremental.bytes(),
        "{transport}: the first fetch should carry the snapshot: {figures:?}"
    );
}

#[tokio::test]
async fn over_http_a_one_file_commit_fetches_the_change_and_a_check_is_one_small_request()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("wire-http");
    let repo = thousand_files(servers, &name)?;
    let proxy = CountingProxy::start(servers.ports().0)?;
    let url = format!("http://127.0.0.1:{}/git/{name}", proxy.port());
    let figures = measure(servers, "http", &url, &http_creds(servers), &proxy, &repo).await?;
    assert_cheap("http", &figures);
    // The v2 listing, then one v2 fetch request.
    assert_eq!(figures.incremental.connections, 2, "{figures:?}");
    Ok(())
}

#[tokio::test]
async fn over_ssh_a_one_file_commit_fetches_the_change_and_a_check_is_one_small_connection()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("wire-ssh");
    let repo = thousand_files(servers, &name)?;
    let (proxy, url, creds) = ssh_through_proxy(servers, &repo)?;
    let figures = measure(servers, "ssh", &url, &creds, &proxy, &repo).await?;
    assert_cheap("ssh", &figures);
    Ok(())
}

#[tokio::test]
async fn over_git_protocol_a_one_file_commit_fetches_the_change_and_a_check_is_one_small_connection()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("wire-daemon");
    let repo = thousand_files(servers, &name)?;
    let (proxy, url) = daemon_through_proxy(servers, &name)?;
    let figures = measure(servers, "git", &url, &Credentials::none(), &proxy, &repo).await?;
    assert_cheap("git://", &figures);
    Ok(())
}

#[tokio::test]
async fn with_a_bearer_token_a_one_file_commit_fetches_the_change_and_a_check_is_one_small_request()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("wire-bearer");
    let repo = thousand_files(servers, &name)?;
    let bearer = url::Url::parse(&servers.bearer_url(&name))?;
    let port = bearer
        .port()
        .ok_or_else(|| anyhow::anyhow!("no port in {bearer}"))?;
    let proxy = CountingProxy::start(port)?;
    let url = format!("http://127.0.0.1:{}/git/{name}", proxy.port());
    let creds = Credentials {
        bearer_token: Some(servers.bearer_token().to_owned()),
        ..Credentials::none()
    };
    let figures = measure(servers, "bearer", &url, &creds, &proxy, &repo).await?;
    assert_cheap("bearer", &figures);
    assert_eq!(figures.incremental.connections, 2, "{figures:?}");
    Ok(())
}

/// Gives `repo` `count` lightweight tags on the head of `main`, written straight into its
/// `packed-refs` (one file, as `git pack-refs` leaves them).
fn many_tags(repo: &std::path::Path, count: usize) -> anyhow::Result<()> {
    let head = capstan_testenv::run_git(repo, &["rev-parse", "refs/heads/main"])?;
    let mut names: Vec<String> = (0..count).map(|i| format!("refs/tags/v1.{i}")).collect();
    names.sort();
    let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    for name in names {
        text.push_str(&format!("{} {name}\n", head.trim()));
    }
    std::fs::write(repo.join("packed-refs"), text)?;
    Ok(())
}

#[tokio::test]
async fn a_check_of_a_repository_with_thousands_of_tags_asks_only_for_its_branch_over_http()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("wire-tags");
    let repo = thousand_files(servers, &name)?;
    many_tags(&repo, 5000)?;
    let http = CountingProxy::start(servers.ports().0)?;
    let http_url = format!("http://127.0.0.1:{}/git/{name}", http.port());
    let (daemon, daemon_url) = daemon_through_proxy(servers, &name)?;
    let (over_http, over_daemon) = (cache(servers, "tags-http"), cache(servers, "tags-daemon"));
    over_http
        .resolve(&http_url, &http_creds(servers), "main")
        .await?;
    over_daemon
        .resolve(&daemon_url, &Credentials::none(), "main")
        .await?;

    let before = http.transfer();
    over_http
        .resolve(&http_url, &http_creds(servers), "main")
        .await?;
    let v2 = http.transfer().since(before);
    let before = daemon.transfer();
    over_daemon
        .resolve(&daemon_url, &Credentials::none(), "main")
        .await?;
    let v0 = daemon.transfer().since(before);
    eprintln!("5,000 tags: HTTP (protocol v2 ls-refs) {v2:?}; git:// (libgit2, v0) {v0:?}");
    assert!(v2.connections == 1 && v2.bytes() <= 2 * 1024, "{v2:?}");
    // The whole advertisement, as libgit2 lists it: every tag, about 60 bytes each.
    assert!(v0.bytes() > 5000 * 50, "{v0:?}");
    Ok(())
}

/// Ten commits on `main` of `repo`, each rewriting 100 of its files: history a shallow fetch
/// leaves out.
fn history(repo: &std::path::Path) -> anyhow::Result<()> {
    for round in 0..10 {
        let texts: Vec<(String, String)> = (0..100)
            .map(|i| {
                let n = round * 100 + i;
                let path = format!("apps/app-{:02}/manifest-{n:04}.yaml", n % 50);
                (
                    path,
                    format!("i: {n}\nround: {round}\npad: {}\n", "y".repeat(200)),
                )
            })
            .collect();
        let files: Vec<(&str, Content<'_>)> = texts
            .iter()
            .map(|(p, t)| (p.as_str(), Content::File(t)))
            .collect();
        commit_files(repo, "main", &files, &format!("round {round}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn a_shallow_first_fetch_costs_what_git_clone_depth_1_does_and_later_fetches_stay_small()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("wire-shallow");
    let repo = thousand_files(servers, &name)?;
    history(&repo)?;
    let proxy = CountingProxy::start(servers.ports().0)?;
    let url = format!("http://127.0.0.1:{}/git/{name}", proxy.port());

    // The git command line's shallow clone, through the same proxy.
    let (git_clone, _) = common::git_clone_depth_1(servers, &proxy, &name)?;

    let limits = CacheLimits {
        shallow_depth: Some(1),
        ..CacheLimits::default()
    };
    let shallow = RepoCache::new(common::cache_dir(servers, "shallow"), limits);
    let full = cache(servers, "full");
    let creds = http_creds(servers);
    let before = proxy.transfer();
    shallow.resolve(&url, &creds, "main").await?;
    let capstan = proxy.transfer().since(before);
    let before = proxy.transfer();
    full.resolve(&url, &creds, "main").await?;
    let whole = proxy.transfer().since(before);

    let change = Content::File("i: 7\nchanged: true\n");
    let commit = commit_files(
        &repo,
        "main",
        &[("apps/app-07/manifest-0007.yaml", change)],
        "one",
    )?;
    let before = proxy.transfer();
    let resolved = shallow.resolve(&url, &creds, "main").await?;
    let next = proxy.transfer().since(before);
    anyhow::ensure!(resolved.commit.sha == commit);
    let tree = shallow.tree(&url, &resolved.access, &commit).await?;
    anyhow::ensure!(tree.read_file("apps/app-07/manifest-0007.yaml")? == b"i: 7\nchanged: true\n");

    eprintln!(
        "shallow: git clone --depth 1 {git_clone:?}; capstan depth 1 {capstan:?}; \
         capstan whole history {whole:?}; next one-file commit {next:?}"
    );
    assert!(
        capstan.received * 10 <= git_clone.received * 12,
        "a depth-1 first fetch: {capstan:?}, git clone --depth 1: {git_clone:?}"
    );
    assert!(
        capstan.received * 2 < whole.received,
        "shallow {capstan:?}, whole {whole:?}"
    );
    assert!(
        next.bytes() <= INCREMENTAL_LIMIT,
        "after a shallow first fetch: {next:?}"
    );
    Ok(())
}

/// Over SSH and git:// too, the fetch after a one-file commit stays small when the first fetch
/// was shallow (libgit2's fetch, with the cache's shallow boundary).
#[tokio::test]
async fn over_ssh_and_git_protocol_a_one_file_commit_after_a_shallow_first_fetch_stays_small()
-> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let limits = CacheLimits {
        shallow_depth: Some(1),
        ..CacheLimits::default()
    };
    let shallow = |transport: &str| {
        RepoCache::new(
            common::cache_dir(servers, &format!("shallow-{transport}")),
            limits.clone(),
        )
    };

    let name = repo_name("wire-shallow-ssh");
    let repo = thousand_files(servers, &name)?;
    history(&repo)?;
    let (proxy, url, creds) = ssh_through_proxy(servers, &repo)?;
    let figures = measure_with(shallow("ssh"), "ssh", &url, &creds, &proxy, &repo).await?;
    assert_cheap("ssh after a shallow first fetch", &figures);

    let name = repo_name("wire-shallow-daemon");
    let repo = thousand_files(servers, &name)?;
    history(&repo)?;
    let (proxy, url) = daemon_through_proxy(servers, &name)?;
    let none = Credentials::none();
    let figures = measure_with(shallow("git"), "git", &url, &none, &proxy, &repo).await?;
    assert_cheap("git:// after a shallow first fetch", &figures);
    Ok(())
}
