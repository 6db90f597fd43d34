//! The git servers of `capstan-testenv` serve a repository over HTTP, HTTPS, SSH and the git
//! protocol, checked with the git command line as an independent client.

use capstan_testenv::{Content, GitServers, commit_files, run_git};

#[tokio::test]
async fn each_transport_serves_the_committed_repository_to_the_git_cli() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let repo = servers.create_repo("cli-check.git")?;
    let sha = commit_files(
        &repo,
        "main",
        &[("app/config.yaml", Content::File("a: 1\n"))],
        "first",
    )?;
    let work = servers.dir().join("cli-check-work");
    std::fs::create_dir_all(&work)?;

    let (user, password) = servers.http_credentials();
    let http = servers
        .http_url("cli-check.git")
        .replace("http://", &format!("http://{user}:{password}@"));
    let https = servers
        .https_url("cli-check.git")
        .replace("https://", &format!("https://{user}:{password}@"));
    let ca = servers.dir().join("cli-ca.crt");
    std::fs::write(&ca, servers.ca_cert())?;
    let key = servers.dir().join("cli-client-key");
    std::fs::write(&key, servers.client_key())?;
    std::process::Command::new("chmod")
        .args(["600", &key.display().to_string()])
        .status()?;
    let known_hosts = servers.dir().join("cli-known-hosts");
    std::fs::write(&known_hosts, format!("{}\n", servers.known_hosts()))?;
    let ssh_command = format!(
        "core.sshCommand=ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
        key.display(),
        known_hosts.display()
    );
    let ca_option = format!("http.sslCAInfo={}", ca.display());
    let cases: [(&str, Vec<&str>, String); 4] = [
        ("http", vec![], http),
        ("https", vec!["-c", &ca_option], https),
        (
            "ssh",
            vec!["-c", &ssh_command],
            servers.ssh_url("cli-check.git"),
        ),
        ("daemon", vec![], servers.daemon_url("cli-check.git")),
    ];
    for (name, options, url) in cases {
        let mut args = options.clone();
        args.extend(["ls-remote", url.as_str(), "refs/heads/main"]);
        let listed = run_git(&work, &args)?;
        anyhow::ensure!(
            listed.starts_with(&sha),
            "{name}: ls-remote gave {listed:?}, expected {sha}"
        );
    }
    anyhow::ensure!(
        servers.access_log().contains("info/refs"),
        "access log: {}",
        servers.access_log()
    );
    Ok(())
}
