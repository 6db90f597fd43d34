//! Shared helpers for the git component tests: a fresh cache per test, unique repository names,
//! and credentials for each transport of the test servers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use capstan_git::{CacheLimits, Credentials, RepoCache};
use capstan_testenv::GitServers;

/// A unique repository name for this test process.
pub fn repo_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}.git",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A cache in a fresh directory under the servers' directory.
pub fn cache(servers: &GitServers, name: &str) -> RepoCache {
    RepoCache::new(cache_dir(servers, name), CacheLimits::default())
}

/// A fresh directory for a cache.
pub fn cache_dir(servers: &GitServers, name: &str) -> PathBuf {
    let dir = servers.dir().join("caches").join(repo_name(name));
    std::fs::create_dir_all(&dir).expect("cache dir");
    dir
}

/// Basic-auth credentials no server accepts.
pub fn wrong_creds() -> Credentials {
    Credentials {
        basic: Some(("nobody".into(), "wrong".into())),
        ..Credentials::none()
    }
}

/// Basic-auth credentials of the HTTP servers.
pub fn http_creds(servers: &GitServers) -> Credentials {
    let (user, password) = servers.http_credentials();
    Credentials {
        basic: Some((user.to_owned(), password.to_owned())),
        ..Credentials::none()
    }
}

/// Basic auth plus the test CA, for HTTPS.
pub fn https_creds(servers: &GitServers) -> Credentials {
    Credentials {
        ca_cert: Some(servers.ca_cert().as_bytes().to_vec()),
        ..http_creds(servers)
    }
}

/// The authorized key and the server's known_hosts line, for SSH.
pub fn ssh_creds(servers: &GitServers) -> Credentials {
    Credentials {
        ssh_key: Some(servers.client_key().to_owned()),
        known_hosts: Some(servers.known_hosts().to_owned()),
        ..Credentials::none()
    }
}

/// How many fetches (`POST …/git-upload-pack`) the HTTP servers have served for `repo`; a
/// protocol v2 ref listing, a POST too, is not one (its user agent says `capstan ls-refs`).
pub fn upload_packs(servers: &GitServers, repo: &str) -> usize {
    servers
        .access_log()
        .lines()
        .filter(|l| is_fetch(l, repo))
        .count()
}

/// Whether the access-log line `line` is a successful fetch of `repo` (not a v2 listing).
pub fn is_fetch(line: &str, repo: &str) -> bool {
    line.contains(&format!("POST /git/{repo}/git-upload-pack"))
        && line.contains("\" 200 ")
        && !line.contains("capstan ls-refs")
}

/// A new HTTP user of the servers with a random password, and its basic-auth credentials.
pub fn new_http_user(servers: &GitServers, prefix: &str) -> anyhow::Result<Credentials> {
    let name = repo_name(prefix).replace(".git", "");
    let password = format!("pw-{}", repo_name("secret"));
    servers.set_http_user(&name, &password)?;
    Ok(Credentials {
        basic: Some((name, password)),
        ..Credentials::none()
    })
}

/// How many requests starting with `request` (e.g. `GET /git/app.git/info/refs`) the HTTP
/// servers answered with 200 for `user` (the access log's authenticated-user field).
pub fn requests_by(servers: &GitServers, user: &str, request: &str) -> usize {
    servers
        .access_log()
        .lines()
        .filter(|l| {
            l.contains(&format!(" {user} ["))
                && l.contains(&format!("\"{request}"))
                && l.contains("\" 200 ")
        })
        .count()
}

/// A 1,000-file repository `name` (50 directories of 20 YAML files, about 220 bytes each) on
/// the servers, committed on `main`.
pub fn thousand_files(servers: &GitServers, name: &str) -> anyhow::Result<PathBuf> {
    use capstan_testenv::{Content, commit_files};
    let repo = servers.create_repo(name)?;
    let texts: Vec<(String, String)> = (0..1000)
        .map(|i| {
            let path = format!("apps/app-{:02}/manifest-{i:04}.yaml", i % 50);
            (
                path,
                format!("i: {i}\nname: file-{i}\npad: {}\n", "x".repeat(200)),
            )
        })
        .collect();
    let files: Vec<(&str, Content<'_>)> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), Content::File(t)))
        .collect();
    commit_files(&repo, "main", &files, "many files")?;
    Ok(repo)
}

/// What `git clone --depth 1 --bare` of `name` transfers through `proxy` (in front of the HTTP
/// server), and how long it takes.
pub fn git_clone_depth_1(
    servers: &GitServers,
    proxy: &capstan_testenv::CountingProxy,
    name: &str,
) -> anyhow::Result<(capstan_testenv::Transfer, std::time::Duration)> {
    let (user, password) = servers.http_credentials();
    let with_user = format!(
        "http://{user}:{password}@127.0.0.1:{}/git/{name}",
        proxy.port()
    );
    let target = cache_dir(servers, "git-clone-depth-1");
    let (before, started) = (proxy.transfer(), std::time::Instant::now());
    let status = std::process::Command::new("git")
        .args(["clone", "--quiet", "--bare", "--depth", "1", &with_user])
        .arg(target.join("clone"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .status()?;
    anyhow::ensure!(status.success(), "git clone --depth 1: {status}");
    Ok((proxy.transfer().since(before), started.elapsed()))
}
