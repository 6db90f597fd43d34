//! Write-back against real servers: a commit is pushed over HTTP and SSH; content that is already
//! there makes no commit; and when another writer pushes first, the write is re-applied on the
//! new head so both commits land — deterministically (a server hook moves the branch during the
//! push) and under real concurrency (two caches racing).

mod common;

use anyhow::ensure;
use capstan_git::{FileChange, WriteOutcome, WriteRequest};
use capstan_testenv::{Content, GitServers, commit_files, run_git};
use common::{cache, http_creds, repo_name, ssh_creds};

fn request(path: &str, content: &str, message: &str) -> WriteRequest {
    WriteRequest {
        branch: "main".to_owned(),
        author_name: "Capstan".to_owned(),
        author_email: "capstan@example.test".to_owned(),
        message: message.to_owned(),
        changes: vec![FileChange {
            path: path.to_owned(),
            content: Some(content.as_bytes().to_vec()),
        }],
    }
}

fn log(servers: &GitServers, name: &str) -> anyhow::Result<Vec<String>> {
    let git_dir = format!("--git-dir={}", servers.repos_dir().join(name).display());
    Ok(run_git(
        servers.repos_dir(),
        &[&git_dir, "log", "--format=%s", "main"],
    )?
    .lines()
    .map(str::to_owned)
    .collect())
}

fn show(servers: &GitServers, name: &str, path: &str) -> anyhow::Result<String> {
    let git_dir = format!("--git-dir={}", servers.repos_dir().join(name).display());
    run_git(
        servers.repos_dir(),
        &[&git_dir, "show", &format!("main:{path}")],
    )
}

#[tokio::test]
async fn a_change_is_committed_and_pushed_once_over_http_and_ssh() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    for (transport, creds) in [("http", http_creds(servers)), ("ssh", ssh_creds(servers))] {
        let name = repo_name("write");
        let repo = servers.create_repo(&name)?;
        commit_files(
            &repo,
            "main",
            &[("app/kustomization.yaml", Content::File("images: []\n"))],
            "base",
        )?;
        let url = if transport == "http" {
            servers.http_url(&name)
        } else {
            servers.ssh_url(&name)
        };
        let cache = cache(servers, "write");
        let bump = request(
            "app/kustomization.yaml",
            "images:\n- name: web\n  newTag: 1.4.3\n",
            "bump web to 1.4.3",
        );

        let outcome = cache.write_back(&url, &creds, &bump).await?;
        let WriteOutcome::Pushed { sha, attempts: 1 } = outcome else {
            anyhow::bail!("{transport}: expected one push, got {outcome:?}")
        };
        ensure!(show(servers, &name, "app/kustomization.yaml")?.contains("newTag: 1.4.3"));
        ensure!(
            log(servers, &name)? == ["bump web to 1.4.3", "base"],
            "{transport}: {:?}",
            log(servers, &name)?
        );

        let again = cache.write_back(&url, &creds, &bump).await?;
        ensure!(
            again == WriteOutcome::Unchanged { sha },
            "{transport}: {again:?}"
        );
        ensure!(
            log(servers, &name)?.len() == 2,
            "{transport}: an unchanged write made a commit"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_writer_overtaken_during_its_push_rebases_and_both_commits_land() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("overtaken");
    let repo = servers.create_repo(&name)?;
    let base = commit_files(
        &repo,
        "main",
        &[("a.yaml", Content::File("a: 1\n"))],
        "base",
    )?;
    // The other writer's commit waits on a side branch; a pre-receive hook moves `main` to it
    // while our first push is being received, exactly as if it had been pushed a moment earlier
    // (git forbids ref updates in pre-receive while the push is quarantined; the hook steps out).
    let git_dir = format!("--git-dir={}", repo.display());
    run_git(
        servers.repos_dir(),
        &[&git_dir, "branch", "other-writer", &base],
    )?;
    let other = commit_files(
        &repo,
        "other-writer",
        &[("b.yaml", Content::File("b: 1\n"))],
        "other writer",
    )?;
    let hook = repo.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nif [ ! -e \"$GIT_DIR/overtaken\" ]; then\n  touch \"$GIT_DIR/overtaken\"\n  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main {other}\nfi\n"
        ),
    )?;
    std::process::Command::new("chmod")
        .args(["+x", &hook.display().to_string()])
        .status()?;

    let cache = cache(servers, "overtaken");
    let outcome = cache
        .write_back(
            &servers.http_url(&name),
            &http_creds(servers),
            &request("c.yaml", "c: 1\n", "ours"),
        )
        .await?;
    let WriteOutcome::Pushed { attempts, .. } = outcome else {
        anyhow::bail!("expected a push, got {outcome:?}")
    };
    ensure!(
        attempts == 2,
        "expected one rejection and a retry, got {attempts} attempts"
    );
    ensure!(
        log(servers, &name)? == ["ours", "other writer", "base"],
        "history: {:?}",
        log(servers, &name)?
    );
    ensure!(show(servers, &name, "b.yaml")? == "b: 1" && show(servers, &name, "c.yaml")? == "c: 1");
    Ok(())
}

#[tokio::test]
async fn two_writers_racing_on_one_branch_lose_no_commit() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = repo_name("race");
    let repo = servers.create_repo(&name)?;
    commit_files(
        &repo,
        "main",
        &[("base.yaml", Content::File("x: 0\n"))],
        "base",
    )?;
    let url = servers.http_url(&name);
    let creds = http_creds(servers);
    let (one, two) = (cache(servers, "race-one"), cache(servers, "race-two"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..4 {
        for (writer, cache) in [("one", one.clone()), ("two", two.clone())] {
            let (url, creds) = (url.clone(), creds.clone());
            let req = request(
                &format!("{writer}-{i}.yaml"),
                &format!("n: {i}\n"),
                &format!("{writer} {i}"),
            );
            tasks.spawn(async move { cache.write_back(&url, &creds, &req).await });
        }
    }
    while let Some(result) = tasks.join_next().await {
        ensure!(matches!(result??, WriteOutcome::Pushed { .. }));
    }
    let history = log(servers, &name)?;
    ensure!(
        history.len() == 9,
        "expected 8 commits on top of base, got {history:?}"
    );
    for i in 0..4 {
        for writer in ["one", "two"] {
            ensure!(
                history.contains(&format!("{writer} {i}")),
                "lost {writer} {i}: {history:?}"
            );
            ensure!(show(servers, &name, &format!("{writer}-{i}.yaml"))? == format!("n: {i}"));
        }
    }
    let git_dir = format!("--git-dir={}", repo.display());
    let merges = run_git(
        servers.repos_dir(),
        &[&git_dir, "rev-list", "--merges", "main"],
    )?;
    ensure!(merges.is_empty(), "history must stay linear");
    Ok(())
}
