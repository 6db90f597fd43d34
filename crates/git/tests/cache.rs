//! The fetch cache against a real smart-HTTP server: a pushed commit is seen by the next check, a
//! check with nothing new fetches nothing (counted by the cache and in the server's access log),
//! concurrent reads coalesce into one fetch, and a symlink cannot leak a file from outside.

mod common;

use anyhow::{Context, ensure};
use capstan_testenv::{Content, GitServers, commit_files};
use common::{cache, http_creds, repo_name, upload_packs};

#[tokio::test]
async fn a_pushed_commit_is_seen_and_an_unchanged_remote_is_not_fetched() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("moves");
    let repo = servers.create_repo(&name)?;
    let first = commit_files(&repo, "main", &[("a.yaml", Content::File("v: 1\n"))], "one")?;
    let (url, creds, cache) = (
        servers.http_url(&name),
        http_creds(servers),
        cache(servers, "moves"),
    );

    ensure!(cache.resolve(&url, &creds, "main").await?.commit.sha == first);
    ensure!(cache.stats().fetches == 1, "{:?}", cache.stats());
    ensure!(
        upload_packs(servers, &name) == 1,
        "first fetch not in the access log"
    );

    // Nothing moved: a check, and no fetch — neither by the cache's count nor on the server.
    ensure!(cache.resolve(&url, &creds, "main").await?.commit.sha == first);
    ensure!(
        cache.stats().fetches == 1 && cache.stats().checks == 2,
        "{:?}",
        cache.stats()
    );
    ensure!(
        upload_packs(servers, &name) == 1,
        "an unchanged remote was fetched:\n{}",
        servers.access_log()
    );

    let second = commit_files(&repo, "main", &[("a.yaml", Content::File("v: 2\n"))], "two")?;
    let resolved = cache.resolve(&url, &creds, "main").await?;
    ensure!(resolved.commit.sha == second, "the new commit was not seen");
    ensure!(cache.stats().fetches == 2);
    ensure!(upload_packs(servers, &name) == 2);
    let tree = cache.tree(&url, &resolved.access, &second).await?;
    ensure!(tree.read_file("a.yaml")? == b"v: 2\n");
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_reads_of_one_repository_cause_exactly_one_fetch() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("burst");
    let repo = servers.create_repo(&name)?;
    let sha = commit_files(&repo, "main", &[("a.yaml", Content::File("v: 1\n"))], "one")?;
    let (url, creds, cache) = (
        servers.http_url(&name),
        http_creds(servers),
        cache(servers, "burst"),
    );

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (cache, url, creds) = (cache.clone(), url.clone(), creds.clone());
        tasks.spawn(async move { cache.resolve(&url, &creds, "main").await });
    }
    while let Some(result) = tasks.join_next().await {
        ensure!(result??.commit.sha == sha);
    }
    ensure!(cache.stats().fetches == 1, "{:?}", cache.stats());
    ensure!(
        upload_packs(servers, &name) == 1,
        "the server saw more than one fetch:\n{}",
        servers.access_log()
    );
    Ok(())
}

#[tokio::test]
async fn a_symlink_cannot_leak_a_file_from_outside_the_repository() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("links");
    let repo = servers.create_repo(&name)?;
    let secret = servers.dir().join("outside-secret.txt");
    std::fs::write(&secret, "TOP-SECRET-OUTSIDE")?;
    let sha = commit_files(
        &repo,
        "main",
        &[
            ("app/config.yaml", Content::File("a: 1\n")),
            ("app/alias.yaml", Content::Symlink("config.yaml")),
            ("linked-dir", Content::Symlink("app")),
            ("absolute", Content::Symlink(&secret.display().to_string())),
            (
                "app/climb",
                Content::Symlink("../../../../../../../../tmp/outside-secret.txt"),
            ),
            ("loop-a", Content::Symlink("loop-b")),
            ("loop-b", Content::Symlink("loop-a")),
        ],
        "links",
    )?;
    let (url, creds, cache) = (
        servers.http_url(&name),
        http_creds(servers),
        cache(servers, "links"),
    );
    let resolved = cache.resolve(&url, &creds, "main").await?;
    let tree = cache.tree(&url, &resolved.access, &sha).await?;

    ensure!(
        tree.read_file("app/alias.yaml")? == b"a: 1\n",
        "a link inside the repository is followed"
    );
    ensure!(
        tree.read_file("linked-dir/config.yaml")? == b"a: 1\n",
        "a directory link is followed"
    );
    for (path, reason) in [
        ("absolute", "points outside the repository"),
        ("app/climb", "points outside the repository"),
        ("../outside-secret.txt", "outside the repository"),
        ("loop-a", "too many levels of symbolic links"),
    ] {
        let err = tree
            .read_file(path)
            .err()
            .with_context(|| format!("{path} was readable"))?;
        let message = err.to_string();
        ensure!(
            message.contains(reason) && message.contains(path),
            "{path}: {message}"
        );
        ensure!(!message.contains("TOP-SECRET"), "{path}: leaked: {message}");
    }
    for (path, real) in [
        ("app/alias.yaml", Some("app/config.yaml")),
        ("linked-dir", Some("app")),
        ("linked-dir/./alias.yaml", Some("app/config.yaml")),
        ("app/../linked-dir/missing.yaml", None),
    ] {
        let resolved = tree.resolve(path)?;
        ensure!(
            resolved.as_deref() == real,
            "{path} resolves to {resolved:?}"
        );
    }
    let err = tree
        .resolve("absolute")
        .err()
        .context("an escape resolved")?;
    ensure!(
        err.to_string().contains("points outside the repository"),
        "{err}"
    );
    let root = tree.read_dir("")?;
    let names: Vec<&str> = root.iter().map(|(n, _)| n.as_str()).collect();
    ensure!(
        names == ["app", "linked-dir"],
        "links that escape or loop are left out of listings: {names:?}"
    );
    Ok(())
}

/// The controller's `capstan_git_checks_total` and `capstan_git_fetches_total` come from the
/// cache's observer: it hears each check and each fetch with its result, and a refused check
/// with its reason.
#[tokio::test]
async fn the_observer_hears_each_check_and_fetch_with_its_result() -> anyhow::Result<()> {
    use capstan_git::Activity;
    use std::sync::{Arc, Mutex};
    let servers = GitServers::shared().await?;
    let name = repo_name("observed");
    let repo = servers.create_repo(&name)?;
    commit_files(&repo, "main", &[("a.yaml", Content::File("v: 1\n"))], "one")?;
    let (url, creds, cache) = (
        servers.http_url(&name),
        http_creds(servers),
        cache(servers, "observed"),
    );
    let heard = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&heard);
    let observer =
        move |activity, result| into.lock().expect("not poisoned").push((activity, result));
    ensure!(
        cache.observe(Arc::new(observer)),
        "an observer was set already"
    );
    ensure!(
        !cache.observe(Arc::new(|_, _| {})),
        "a second observer replaced the first"
    );

    cache.resolve(&url, &creds, "main").await?;
    cache.resolve(&url, &creds, "main").await?;
    let wrong = common::wrong_creds();
    ensure!(cache.resolve(&url, &wrong, "main").await.is_err());
    let heard = heard.lock().expect("not poisoned").clone();
    let refused = Err(capstan_api::Reason::AuthenticationFailed);
    ensure!(
        heard
            == [
                (Activity::Check, Ok(())),
                (Activity::Fetch, Ok(())),
                (Activity::Check, Ok(())),
                (Activity::Check, refused),
            ],
        "{heard:?}"
    );
    Ok(())
}

/// A periodic re-compare may take a check made moments ago with the same credentials (the
/// repository poll keeps it fresh) instead of asking the server again; `resolve` always asks.
#[tokio::test]
async fn a_recent_check_is_reused_within_its_age_and_never_by_resolve() -> anyhow::Result<()> {
    use std::time::Duration;
    let servers = GitServers::shared().await?;
    let name = repo_name("recent");
    let repo = servers.create_repo(&name)?;
    let first = commit_files(&repo, "main", &[("a.yaml", Content::File("v: 1\n"))], "one")?;
    let (url, creds, cache) = (
        servers.http_url(&name),
        http_creds(servers),
        cache(servers, "recent"),
    );
    ensure!(cache.resolve(&url, &creds, "main").await?.commit.sha == first);
    let checks = cache.stats().checks;
    let second = commit_files(&repo, "main", &[("a.yaml", Content::File("v: 2\n"))], "two")?;
    // Within its age: the earlier result, no request (the new commit is not seen yet).
    let reused = cache
        .resolve_within(&url, &creds, "main", Duration::from_secs(60))
        .await?;
    ensure!(reused.commit.sha == first && cache.stats().checks == checks);
    // Another identity never takes it.
    let wrong = common::wrong_creds();
    ensure!(
        cache
            .resolve_within(&url, &wrong, "main", Duration::from_secs(60))
            .await
            .is_err()
    );
    // `resolve` asks the server: the new commit.
    ensure!(cache.resolve(&url, &creds, "main").await?.commit.sha == second);
    Ok(())
}
