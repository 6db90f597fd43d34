//! The shared cache is a tenant boundary (regressions of "the git cache serves private content
//! without checking the caller"): a cached commit, a coalesced result or a tree is given only to a
//! caller whose own credentials the remote accepted for that repository within the authorization
//! bound. Against the real servers: basic auth over HTTP (users added and re-passworded in
//! lighttpd's users file), key authentication over SSH (keys sshd does and does not know), and
//! the anonymous git daemon.

mod common;

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use capstan_git::{Access, CacheLimits, Credentials, Error, RepoCache, Resolved};
use capstan_testenv::{Content, GitServers, commit_files};
use common::{cache, cache_dir, new_http_user, repo_name, requests_by, upload_packs};

const FILE: &str = "private.yaml";
const CONTENT: &str = "secret: of tenant a\n";

/// A repository with one commit on `main`, and its owner A (an HTTP user of its own).
struct Private {
    name: String,
    url: String,
    sha: String,
    alice: Credentials,
}

fn private_repo(servers: &GitServers, prefix: &str) -> anyhow::Result<Private> {
    let name = repo_name(prefix);
    let repo = servers.create_repo(&name)?;
    let sha = commit_files(&repo, "main", &[(FILE, Content::File(CONTENT))], "private")?;
    Ok(Private {
        url: servers.http_url(&name),
        name,
        sha,
        alice: new_http_user(servers, "alice")?,
    })
}

/// The shared servers, a private repository of A's, and a fresh cache.
async fn setup(prefix: &str) -> anyhow::Result<(&'static GitServers, Private, RepoCache)> {
    let servers = GitServers::shared().await?;
    Ok((
        servers,
        private_repo(servers, prefix)?,
        cache(servers, prefix),
    ))
}

/// A's user name with a wrong password.
fn wrong_password(owner: &Credentials) -> Credentials {
    Credentials {
        basic: Some((user(owner).to_owned(), "wrong-pass-4711".to_owned())),
        ..Credentials::none()
    }
}

fn user(creds: &Credentials) -> &str {
    creds.basic.as_ref().map_or("-", |(user, _)| user.as_str())
}

/// The outcome must be an authentication refusal: nothing resolved, so no proof to read with.
fn ensure_refused(outcome: Result<Resolved, Error>, case: &str) -> anyhow::Result<()> {
    match outcome {
        Err(Error::Unauthorized { .. }) => Ok(()),
        Ok(served) => bail!(
            "{case}: served commit {} with {:?} — the cache read it for a caller the remote refuses",
            served.commit.sha,
            served.access
        ),
        Err(other) => bail!("{case}: refused, but not as an authentication error: {other}"),
    }
}

/// Reading the tree with `access` must be refused, for a reason that says `why`.
async fn ensure_read_refused(
    cache: &RepoCache,
    (url, sha): (&str, &str),
    access: &Access,
    why: &str,
) -> anyhow::Result<()> {
    match cache.tree(url, access, sha).await {
        Err(err @ Error::Unauthorized { .. }) if err.to_string().contains(why) => Ok(()),
        Err(other) => bail!("reading with {access:?}: refused, but not because {why:?}: {other}"),
        Ok(_) => bail!("{access:?} opened the tree of {sha} in {url}"),
    }
}

/// A's password changed: the old one gets neither the cached commit nor, with the proof it had,
/// its tree — refused because `why`.
async fn ensure_old_password_locked_out(
    cache: &RepoCache,
    a: &Private,
    before: &Access,
    why: &str,
) -> anyhow::Result<()> {
    let outcome = cache.resolve(&a.url, &a.alice, &a.sha).await;
    ensure_refused(
        outcome,
        &format!("A's old password asks for the commit ({why})"),
    )?;
    ensure_read_refused(cache, (&a.url, &a.sha), before, why).await
}

#[tokio::test]
async fn a_cached_private_commit_or_branch_is_refused_to_wrong_or_missing_credentials()
-> anyhow::Result<()> {
    let (servers, a, cache) = setup("tenant-a").await?;
    ensure!(cache.resolve(&a.url, &a.alice, "main").await?.commit.sha == a.sha);
    let (fetches, packs) = (cache.stats().fetches, upload_packs(servers, &a.name));

    let tenant_b = [
        (
            "B names A's user with a wrong password",
            wrong_password(&a.alice),
        ),
        (
            "B is a user the server does not know",
            Credentials {
                basic: Some(("mallory".to_owned(), "guess-4711".to_owned())),
                ..Credentials::none()
            },
        ),
        ("B brings no credentials", Credentials::none()),
    ];
    for (case, b) in &tenant_b {
        for revision in [a.sha.as_str(), "main"] {
            let outcome = cache.resolve(&a.url, b, revision).await;
            ensure_refused(outcome, &format!("{case}, asking for {revision}"))?;
        }
    }
    ensure!(
        cache.stats().fetches == fetches && upload_packs(servers, &a.name) == packs,
        "a refused caller made the cache fetch: {:?}\n{}",
        cache.stats(),
        servers.access_log()
    );
    Ok(())
}

#[tokio::test]
async fn a_second_valid_user_reads_a_cached_commit_with_one_ref_listing_and_no_fetch()
-> anyhow::Result<()> {
    let (servers, a, cache) = setup("shared").await?;
    cache.resolve(&a.url, &a.alice, "main").await?;
    let carol = new_http_user(servers, "carol")?;
    let before = cache.stats();

    let resolved = cache.resolve(&a.url, &carol, &a.sha).await?;
    ensure!(resolved.commit.sha == a.sha);
    // The listing is one request: a protocol v2 `ls-refs` POST (what the cache sends over
    // HTTP), or libgit2's v0 `GET info/refs` where a server has no v2. No pack is fetched: the
    // cache's own count below.
    let v0 = requests_by(
        servers,
        user(&carol),
        &format!("GET /git/{}/info/refs", a.name),
    );
    let v2 = requests_by(
        servers,
        user(&carol),
        &format!("POST /git/{}/git-upload-pack", a.name),
    );
    ensure!(
        v0 + v2 == 1,
        "carol's read of a cached commit: {v0} v0 listings and {v2} upload-pack requests, expected one request"
    );
    let after = cache.stats();
    ensure!(
        after.checks == before.checks + 1 && after.fetches == before.fetches,
        "before {before:?}, after {after:?}"
    );
    let tree = cache.tree(&a.url, &resolved.access, &a.sha).await?;
    ensure!(tree.read_file(FILE)? == CONTENT.as_bytes());
    Ok(())
}

#[tokio::test]
async fn a_waiter_with_other_credentials_never_receives_another_callers_result()
-> anyhow::Result<()> {
    let (_, a, cache) = setup("coalesce").await?;
    let bob = wrong_password(&a.alice);

    // Interleaved, all waiting on one repository: with coalescing by revision alone, a refused
    // caller queued behind a check by A would take A's result. (lighttpd answers each wrong
    // password after a second, so a few callers are enough.)
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (cache, url) = (cache.clone(), a.url.clone());
        let (who, creds) = if i % 2 == 0 {
            ("A", a.alice.clone())
        } else {
            ("B", bob.clone())
        };
        tasks.spawn(async move { (who, cache.resolve(&url, &creds, "main").await) });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            ("A", outcome) => ensure!(outcome?.commit.sha == a.sha),
            (_, outcome) => ensure_refused(outcome, "B waiting behind A")?,
        }
    }
    Ok(())
}

#[tokio::test]
async fn anonymous_access_through_git_daemon_still_resolves_and_reads() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let a = private_repo(servers, "public")?;
    let url = servers.daemon_url(&a.name);
    let cache = cache(servers, "public");
    let anonymous = Credentials::none();

    ensure!(cache.resolve(&url, &anonymous, "main").await?.commit.sha == a.sha);
    let by_sha = cache.resolve(&url, &anonymous, &a.sha).await?;
    ensure!(
        cache.stats().checks == 1,
        "an anonymous listing a moment ago vouches for the cached commit: {:?}",
        cache.stats()
    );
    let tree = cache.tree(&url, &by_sha.access, &a.sha).await?;
    ensure!(tree.read_file(FILE)? == CONTENT.as_bytes());
    Ok(())
}

#[tokio::test]
async fn a_refused_listing_revokes_the_identity_at_once() -> anyhow::Result<()> {
    let (servers, a, cache) = setup("revoked").await?;
    let before = cache.resolve(&a.url, &a.alice, "main").await?;

    servers.set_http_user(user(&a.alice), "changed-by-the-admin")?;
    ensure_refused(
        cache.resolve(&a.url, &a.alice, "main").await,
        "A's old password, listing main",
    )?;
    ensure_old_password_locked_out(&cache, &a, &before.access, "no longer vouches").await
}

#[tokio::test]
async fn a_changed_password_is_refused_once_the_authorization_bound_passes() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let a = private_repo(servers, "rotated")?;
    let bound = Duration::from_secs(2);
    let limits = CacheLimits {
        authorization_max_age: bound,
        ..CacheLimits::default()
    };
    let cache = RepoCache::new(cache_dir(servers, "rotated"), limits);
    let before = cache.resolve(&a.url, &a.alice, &a.sha).await?;
    let granted_by = Instant::now();

    servers.set_http_user(user(&a.alice), "changed-by-the-admin")?;
    // Wait out the bound this test set: the cache may serve the old password until then.
    tokio::time::sleep_until((granted_by + bound + Duration::from_millis(100)).into()).await;
    ensure_old_password_locked_out(&cache, &a, &before.access, "past the 2s bound").await
}

#[tokio::test]
async fn an_access_proof_opens_only_the_repository_it_was_checked_for() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let (one, two) = (
        private_repo(servers, "proof-one")?,
        private_repo(servers, "proof-two")?,
    );
    let cache = cache(servers, "proofs");
    let first = cache.resolve(&one.url, &one.alice, "main").await?;
    cache.resolve(&two.url, &two.alice, "main").await?;

    let other = (two.url.as_str(), two.sha.as_str());
    ensure_read_refused(&cache, other, &first.access, "for another repository").await?;
    Ok(())
}

#[tokio::test]
async fn over_ssh_a_cached_commit_is_refused_to_an_unknown_key_and_read_by_another_authorized_one()
-> anyhow::Result<()> {
    let (servers, a, cache) = setup("ssh-tenant").await?;
    let url = servers.ssh_url(&a.name);
    let with_key = |key: String| Credentials {
        ssh_key: Some(key),
        known_hosts: Some(servers.known_hosts().to_owned()),
        ..Credentials::none()
    };
    let owner = with_key(servers.client_key().to_owned());
    ensure!(cache.resolve(&url, &owner, "main").await?.commit.sha == a.sha);
    let before = cache.stats();

    let stranger = with_key(servers.new_ssh_key(false)?);
    for revision in [a.sha.as_str(), "main"] {
        let outcome = cache.resolve(&url, &stranger, revision).await;
        ensure_refused(
            outcome,
            &format!("an unknown SSH key asking for {revision}"),
        )?;
    }
    let colleague = with_key(servers.new_ssh_key(true)?);
    let read = cache.resolve(&url, &colleague, &a.sha).await?;
    let after = cache.stats();
    ensure!(
        after.fetches == before.fetches,
        "a refused or a second authorized key made the cache fetch: {before:?} → {after:?}"
    );
    let tree = cache.tree(&url, &read.access, &a.sha).await?;
    ensure!(tree.read_file(FILE)? == CONTENT.as_bytes());
    Ok(())
}
