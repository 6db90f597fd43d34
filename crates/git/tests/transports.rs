//! Cloning, resolving and reading over every transport against real servers (lighttpd +
//! git-http-backend over HTTP and HTTPS, sshd, git daemon), and the failures a user meets:
//! wrong password, wrong key, unknown or changed host key, untrusted certificate — each a clear
//! error that carries no secret.

mod common;

use anyhow::{Context, ensure};
use capstan_git::{Credentials, EntryKind};
use capstan_testenv::{Content, GitServers, commit_files, run_git};
use common::{cache, http_creds, https_creds, repo_name, ssh_creds};

const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n";

async fn seeded(servers: &GitServers) -> anyhow::Result<(String, String)> {
    let name = repo_name("transport");
    let repo = servers.create_repo(&name)?;
    let sha = commit_files(
        &repo,
        "main",
        &[
            ("app/config.yaml", Content::File(CONFIG)),
            (
                "app/kustomization.yaml",
                Content::File("resources: [config.yaml]\n"),
            ),
        ],
        "add the app",
    )?;
    Ok((name, sha))
}

#[tokio::test]
async fn every_transport_resolves_and_reads_the_commit() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let (name, sha) = seeded(servers).await?;
    let cases = [
        ("http", servers.http_url(&name), http_creds(servers)),
        ("https", servers.https_url(&name), https_creds(servers)),
        ("ssh", servers.ssh_url(&name), ssh_creds(servers)),
        ("git daemon", servers.daemon_url(&name), Credentials::none()),
    ];
    for (transport, url, creds) in cases {
        let cache = cache(servers, transport);
        let resolved = cache
            .resolve(&url, &creds, "main")
            .await
            .with_context(|| format!("{transport}: resolve"))?;
        ensure!(
            resolved.commit.sha == sha,
            "{transport}: resolved {} instead of {sha}",
            resolved.commit.sha
        );
        ensure!(
            resolved.commit.subject == "add the app",
            "{transport}: {:?}",
            resolved.commit
        );
        ensure!(resolved.commit.author == "Test Author");
        ensure!(resolved.reference.as_deref() == Some("refs/heads/main"));
        let tree = cache.tree(&url, &resolved.access, &sha).await?;
        ensure!(
            tree.read_file("app/config.yaml")? == CONFIG.as_bytes(),
            "{transport}: content differs"
        );
        let entries = tree.read_dir("app")?;
        ensure!(
            entries
                == [
                    ("config.yaml".to_owned(), EntryKind::File),
                    ("kustomization.yaml".to_owned(), EntryKind::File)
                ],
            "{transport}: {entries:?}"
        );
        ensure!(tree.kind("app/missing.yaml")?.is_none());
    }
    Ok(())
}

#[tokio::test]
async fn revisions_resolve_to_branches_tags_and_commits() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let (name, first) = seeded(servers).await?;
    let repo = servers.repos_dir().join(&name);
    let git_dir = format!("--git-dir={}", repo.display());
    run_git(
        servers.repos_dir(),
        &[&git_dir, "tag", "-a", "v1.0.0", "-m", "release 1", &first],
    )?;
    run_git(servers.repos_dir(), &[&git_dir, "tag", "light", &first])?;
    run_git(
        servers.repos_dir(),
        &[&git_dir, "branch", "release", &first],
    )?;
    let second = commit_files(
        &repo,
        "main",
        &[("app/extra.yaml", Content::File("x: 1\n"))],
        "second",
    )?;
    let url = servers.http_url(&name);
    let creds = http_creds(servers);
    let cache = cache(servers, "revisions");
    for (revision, expected) in [
        ("HEAD", &second),
        ("main", &second),
        ("release", &first),
        ("v1.0.0", &first),
        ("light", &first),
        (&first[..7], &first),
        (first.as_str(), &first),
        ("refs/heads/main", &second),
    ] {
        let resolved = cache
            .resolve(&url, &creds, revision)
            .await
            .with_context(|| format!("resolve {revision}"))?;
        ensure!(
            &resolved.commit.sha == expected,
            "{revision}: got {}, expected {expected}",
            resolved.commit.sha
        );
    }
    let err = cache
        .resolve(&url, &creds, "no-such-branch")
        .await
        .err()
        .context("a missing revision resolved")?;
    ensure!(
        err.to_string()
            .contains("revision \"no-such-branch\" not found"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn authentication_and_identity_failures_are_clear_and_carry_no_secret() -> anyhow::Result<()>
{
    let servers = GitServers::shared().await?;
    let (name, _) = seeded(servers).await?;
    let (user, _) = servers.http_credentials();
    let wrong_password = Credentials {
        basic: Some((user.to_owned(), "wrong-pass-4711".to_owned())),
        ..Credentials::none()
    };

    let other_key_path = servers.dir().join(format!("{name}-other-key"));
    run_git(servers.dir(), &["version"])?;
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key_path)
        .status()?;
    ensure!(status.success());
    let other_key = std::fs::read_to_string(&other_key_path)?;
    let other_host_key = std::fs::read_to_string(format!("{}.pub", other_key_path.display()))?;
    let port = servers
        .ssh_url("x")
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let changed_host = format!("[127.0.0.1]:{port} {}", other_host_key.trim());

    let cases: Vec<(&str, String, Credentials, &str, Vec<String>)> = vec![
        (
            "wrong password",
            servers.http_url(&name),
            wrong_password,
            "rejected the configured credentials",
            vec!["wrong-pass-4711".to_owned()],
        ),
        (
            "no credentials",
            servers.http_url(&name),
            Credentials::none(),
            "none are configured",
            vec![],
        ),
        (
            "wrong key",
            servers.ssh_url(&name),
            Credentials {
                ssh_key: Some(other_key.clone()),
                ..ssh_creds(servers)
            },
            "failed to list refs of ssh://",
            vec![other_key.lines().nth(1).unwrap_or_default().to_owned()],
        ),
        (
            "unknown host key",
            servers.ssh_url(&name),
            Credentials {
                known_hosts: Some(format!("[example.com]:{port} {}", other_host_key.trim())),
                ..ssh_creds(servers)
            },
            "is not in known_hosts",
            vec![],
        ),
        (
            "changed host key",
            servers.ssh_url(&name),
            Credentials {
                known_hosts: Some(changed_host),
                ..ssh_creds(servers)
            },
            "does not match known_hosts",
            vec![],
        ),
        (
            "no known_hosts",
            servers.ssh_url(&name),
            Credentials {
                known_hosts: None,
                ..ssh_creds(servers)
            },
            "no known_hosts is configured",
            vec![],
        ),
        (
            "certificate from another CA",
            servers.https_url(&name),
            Credentials {
                ca_cert: Some(other_ca()?),
                ..http_creds(servers)
            },
            "not issued by the configured CA",
            vec![],
        ),
        (
            "system roots do not trust the test CA",
            servers.https_url(&name),
            http_creds(servers),
            "certificate",
            vec![],
        ),
    ];
    for (case, url, creds, expected, extra_secrets) in cases {
        let cache = cache(servers, "failures");
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            cache.resolve(&url, &creds, "main"),
        )
        .await
        .with_context(|| format!("{case}: hung instead of failing"))?
        .err()
        .with_context(|| format!("{case}: succeeded"))?;
        let message = format!("{err:#} {err:?}");
        ensure!(message.contains(expected), "{case}: {message}");
        let (_, password) = servers.http_credentials();
        let mut secrets = extra_secrets;
        secrets.push(password.to_owned());
        secrets.push(
            servers
                .client_key()
                .lines()
                .nth(1)
                .unwrap_or_default()
                .to_owned(),
        );
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            ensure!(
                !message.contains(secret.as_str()),
                "{case}: the error shows a secret: {message}"
            );
        }
    }
    Ok(())
}

/// A CA certificate that signed nothing the servers use.
fn other_ca() -> anyhow::Result<Vec<u8>> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    Ok(params.self_signed(&key)?.pem().into_bytes())
}
