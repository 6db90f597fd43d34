//! Real git servers on loopback for the git tests: smart HTTP and HTTPS with basic auth (lighttpd
//! running git-http-backend as CGI, TLS from the test CA), SSH (OpenSSH's sshd with its own host
//! key and one authorized client key), the anonymous git daemon, and a bearer-token proxy in front
//! of the HTTP server ([`crate::bearer_proxy`]). All serve one directory of bare repositories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::Error;
use crate::bearer_proxy::BearerProxy;
use crate::certs::{Pki, random_token, write};
use crate::process::Component;
use crate::ready::{free_port, wait_until};

/// The user name accepted by the HTTP servers.
pub const GIT_USER: &str = "capstan";

/// lighttpd's plain users file (`user:password` lines) in the servers' directory.
const USERS_FILE: &str = "users";

/// Running git servers and what a client needs to reach them.
#[derive(Debug)]
pub struct GitServers {
    dir: PathBuf,
    repos: PathBuf,
    http_port: u16,
    https_port: u16,
    ssh_port: u16,
    daemon_port: u16,
    password: String,
    client_key: String,
    known_hosts: String,
    ca_cert: String,
    access_log: PathBuf,
    bearer_token: String,
    bearer: BearerProxy,
    _components: Vec<Component>,
}

impl GitServers {
    /// The servers shared by every test in this test binary, started on first use.
    pub async fn shared() -> anyhow::Result<&'static GitServers> {
        static SHARED: OnceCell<Result<GitServers, String>> = OnceCell::const_new();
        SHARED
            .get_or_init(|| async {
                Self::start()
                    .await
                    .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
            })
            .await
            .as_ref()
            .map_err(|msg| anyhow::anyhow!("the git servers could not start: {msg}"))
    }

    /// Starts lighttpd (HTTP + HTTPS), sshd, git daemon and the bearer proxy in a fresh directory.
    pub async fn start() -> Result<Self, Error> {
        let dir = crate::control_plane::fresh_dir()?;
        let repos = dir.join("repos");
        mkdir(&repos)?;
        let pki_dir = dir.join("pki");
        mkdir(&pki_dir)?;
        let pki = Pki::generate(&pki_dir)?;
        let password = random_token()?;
        let (http_port, https_port, ssh_port, daemon_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let access_log = dir.join("access.log");
        write(&access_log, "")?;
        let mut components = Vec::new();

        let users = dir.join(USERS_FILE);
        write(&users, &format!("{GIT_USER}:{password}\n"))?;
        let conf = dir.join("lighttpd.conf");
        write(
            &conf,
            &lighttpd_conf(&repos, http_port, https_port, &users, &pki, &access_log),
        )?;
        let mut lighttpd = Component::spawn(
            "lighttpd",
            Path::new("/usr/sbin/lighttpd"),
            &["-D".to_owned(), "-f".to_owned(), conf.display().to_string()],
            dir.join("lighttpd.log"),
        )?;
        wait_listening(&mut lighttpd, &[http_port, https_port]).await?;
        components.push(lighttpd);

        let ssh = dir.join("ssh");
        mkdir(&ssh)?;
        let host_key = keygen(&ssh.join("host_ed25519"))?;
        let client_key = keygen(&ssh.join("client_ed25519"))?;
        write(&ssh.join("authorized_keys"), &client_key.public)?;
        let known_hosts = format!("[127.0.0.1]:{ssh_port} {}", host_key.public.trim());
        write(&ssh.join("sshd_config"), &sshd_config(&ssh, ssh_port))?;
        mkdir(Path::new("/run/sshd"))?;
        let mut sshd = Component::spawn(
            "sshd",
            Path::new("/usr/sbin/sshd"),
            &[
                "-D".to_owned(),
                "-e".to_owned(),
                "-f".to_owned(),
                ssh.join("sshd_config").display().to_string(),
            ],
            dir.join("sshd.log"),
        )?;
        wait_listening(&mut sshd, &[ssh_port]).await?;
        components.push(sshd);

        let mut daemon = Component::spawn(
            "git-daemon",
            &crate::binaries::git_daemon()?,
            &[
                "--listen=127.0.0.1".to_owned(),
                format!("--port={daemon_port}"),
                format!("--base-path={}", repos.display()),
                "--export-all".to_owned(),
                "--reuseaddr".to_owned(),
                "--verbose".to_owned(),
                repos.display().to_string(),
            ],
            dir.join("git-daemon.log"),
        )?;
        wait_listening(&mut daemon, &[daemon_port]).await?;
        components.push(daemon);

        let bearer_token = random_token()?;
        let bearer = BearerProxy::start(
            &bearer_token,
            http_port,
            (GIT_USER, &password),
            dir.join("bearer-proxy.log"),
        )?;

        let ca_cert = std::fs::read_to_string(&pki.ca_cert).map_err(|source| Error::Prepare {
            what: pki.ca_cert.display().to_string(),
            source,
        })?;
        Ok(Self {
            dir,
            repos,
            http_port,
            https_port,
            ssh_port,
            daemon_port,
            password,
            client_key: client_key.private,
            known_hosts,
            ca_cert,
            access_log,
            bearer_token,
            bearer,
            _components: components,
        })
    }

    /// Creates an empty bare repository `name` (e.g. `team/app.git`) whose HEAD is `main`.
    pub fn create_repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.repos.join(name);
        run_git(
            &self.repos,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &path.display().to_string(),
            ],
        )?;
        Ok(path)
    }

    /// The directory holding the bare repositories.
    pub fn repos_dir(&self) -> &Path {
        &self.repos
    }

    /// `http://127.0.0.1:<port>/git/<name>` (basic auth required).
    pub fn http_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/git/{name}", self.http_port)
    }

    /// `https://127.0.0.1:<port>/git/<name>` (basic auth required; certificate from [`Self::ca_cert`]).
    pub fn https_url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/git/{name}", self.https_port)
    }

    /// `ssh://root@127.0.0.1:<port>/<abs path>` (key auth with [`Self::client_key`]).
    pub fn ssh_url(&self, name: &str) -> String {
        format!(
            "ssh://root@127.0.0.1:{}{}",
            self.ssh_port,
            self.repos.join(name).display()
        )
    }

    /// The ports of the plain HTTP, SSH and git:// servers, for a proxy in front of one.
    pub fn ports(&self) -> (u16, u16, u16) {
        (self.http_port, self.ssh_port, self.daemon_port)
    }

    /// `git://127.0.0.1:<port>/<name>` (anonymous, read-only).
    pub fn daemon_url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.daemon_port)
    }

    /// `http://127.0.0.1:<port>/git/<name>` through the bearer proxy: only
    /// `Authorization: Bearer <`[`Self::bearer_token`]`>` is accepted.
    pub fn bearer_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/git/{name}", self.bearer.port())
    }

    /// The one token the bearer proxy accepts.
    pub fn bearer_token(&self) -> &str {
        &self.bearer_token
    }

    /// The bearer proxy, for its request counts and log.
    pub fn bearer_proxy(&self) -> &BearerProxy {
        &self.bearer
    }

    /// The HTTP user name and password.
    pub fn http_credentials(&self) -> (&str, &str) {
        (GIT_USER, &self.password)
    }

    /// Adds an HTTP user, or changes its password, as the server's administrator would: the users
    /// file is replaced at once, and lighttpd reads it on every request, so the next request is
    /// judged by the new password (and the old one is refused).
    pub fn set_http_user(&self, name: &str, password: &str) -> anyhow::Result<()> {
        static REWRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        anyhow::ensure!(
            !name.is_empty() && ![name, password].iter().any(|v| v.contains([':', '\n'])),
            "an HTTP user needs a name, and neither name nor password may hold ':' or a newline"
        );
        let _one_writer = REWRITE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = self.dir.join(USERS_FILE);
        let mut users: String = std::fs::read_to_string(&path)?
            .lines()
            .filter(|line| line.split(':').next() != Some(name))
            .map(|line| format!("{line}\n"))
            .collect();
        users.push_str(&format!("{name}:{password}\n"));
        // A new file renamed over the old one: a request never sees a half-written file.
        let next = self.dir.join(format!("{USERS_FILE}.next"));
        std::fs::write(&next, users)?;
        std::fs::rename(&next, &path)?;
        Ok(())
    }

    /// A new SSH client key pair, made by ssh-keygen; when `authorized`, its public key is added
    /// to the server's authorized keys (sshd reads them on every connection). Returns the
    /// private key, OpenSSH format.
    pub fn new_ssh_key(&self, authorized: bool) -> anyhow::Result<String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ssh = self.dir.join("ssh");
        let pair = keygen(&ssh.join(format!("extra_client_{n}_ed25519")))?;
        if authorized {
            use std::io::Write;
            let mut keys = std::fs::OpenOptions::new()
                .append(true)
                .open(ssh.join("authorized_keys"))?;
            keys.write_all(pair.public.as_bytes())?;
        }
        Ok(pair.private)
    }

    /// The authorized client's private key, OpenSSH format.
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// A known_hosts line for the SSH server: `[127.0.0.1]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts(&self) -> &str {
        &self.known_hosts
    }

    /// The PEM CA certificate the HTTPS server's certificate chains to.
    pub fn ca_cert(&self) -> &str {
        &self.ca_cert
    }

    /// The HTTP(S) access log, complete up to this call: lighttpd hands lines to a pipe whose
    /// reader appends them to the file, so this sends a marker request and waits (up to 10 s)
    /// until the marker's line — and so every line before it — is in the file.
    pub fn access_log(&self) -> String {
        use std::io::{Read, Write};
        let marker = format!("/capstan-log-marker-{}", random_token().unwrap_or_default());
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.http_port)) {
            let request = format!("GET {marker} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
            if log.contains(&marker) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The directory holding logs, keys and repositories.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Waits until every port accepts TCP connections, failing at once if the component exits.
async fn wait_listening(component: &mut Component, ports: &[u16]) -> Result<(), Error> {
    let what = format!("listening on {ports:?}");
    wait_until(component, Duration::from_secs(30), &what, || async {
        for port in ports {
            if tokio::net::TcpStream::connect(("127.0.0.1", *port))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    })
    .await
}

fn lighttpd_conf(
    repos: &Path,
    http: u16,
    https: u16,
    users: &Path,
    pki: &Pki,
    log: &Path,
) -> String {
    format!(
        r#"server.modules = ( "mod_access", "mod_alias", "mod_setenv", "mod_auth", "mod_authn_file",
                   "mod_cgi", "mod_accesslog", "mod_openssl" )
server.bind = "127.0.0.1"
server.port = {http}
server.document-root = "{repos}"
server.feature-flags += ( "server.h2proto" => "disable" )
accesslog.filename = "|/bin/cat >> {log}"
alias.url = ( "/git" => "/usr/lib/git-core/git-http-backend" )
$HTTP["url"] =^ "/git" {{
  cgi.assign = ( "" => "" )
  setenv.set-environment = ( "GIT_PROJECT_ROOT" => "{repos}", "GIT_HTTP_EXPORT_ALL" => "" )
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ( "/git" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
$SERVER["socket"] == "127.0.0.1:{https}" {{
  ssl.engine = "enable"
  ssl.pemfile = "{cert}"
  ssl.privkey = "{key}"
}}
"#,
        repos = repos.display(),
        users = users.display(),
        log = log.display(),
        cert = pki.serving_cert.display(),
        key = pki.serving_key.display(),
    )
}

fn sshd_config(ssh: &Path, port: u16) -> String {
    format!(
        "ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
LogLevel VERBOSE
",
        dir = ssh.display()
    )
}

/// An OpenSSH key pair made by ssh-keygen.
struct KeyPair {
    private: String,
    public: String,
}

fn keygen(path: &Path) -> Result<KeyPair, Error> {
    let prepare = |source| Error::Prepare {
        what: path.display().to_string(),
        source,
    };
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "capstan-testenv",
            "-f",
        ])
        .arg(path)
        .status()
        .map_err(prepare)?;
    if !status.success() {
        return Err(prepare(std::io::Error::other(format!(
            "ssh-keygen failed: {status}"
        ))));
    }
    Ok(KeyPair {
        private: std::fs::read_to_string(path).map_err(prepare)?,
        public: std::fs::read_to_string(path.with_extension("pub")).map_err(prepare)?,
    })
}

fn mkdir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|source| Error::Prepare {
        what: path.display().to_string(),
        source,
    })
}

/// Runs the git command line in `dir`, failing with its stderr.
pub fn run_git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    git_with(dir, args, &[], None)
}

/// Runs git in `dir` with extra environment variables and optional standard input, as a fixed
/// test author, and returns its trimmed standard output.
fn git_with(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        // The machine may point git at the system CA bundle; tests pass their own CA per command.
        .env_remove("GIT_SSL_CAINFO")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.test")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.test")
        .envs(envs.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(mut input), Some(text)) = (child.stdin.take(), stdin) {
        input.write_all(text.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// What a path in a test commit holds.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    /// A regular file with this text.
    File(&'a str),
    /// A symbolic link pointing at this target.
    Symlink(&'a str),
    /// Remove the path.
    Delete,
}

/// Commits `files` on top of `branch` (or as its first commit) directly in the bare repository
/// `repo`, with git's plumbing and a private index, and returns the new commit's SHA.
pub fn commit_files(
    repo: &Path,
    branch: &str,
    files: &[(&str, Content<'_>)],
    message: &str,
) -> anyhow::Result<String> {
    let git_dir = format!("--git-dir={}", repo.display());
    let index = repo.join(format!("capstan-test-index-{}", random_token()?));
    let index_env = index.display().to_string();
    let git = |args: &[&str], stdin: Option<&str>| -> anyhow::Result<String> {
        let mut full = vec![git_dir.as_str()];
        full.extend_from_slice(args);
        git_with(repo, &full, &[("GIT_INDEX_FILE", &index_env)], stdin)
    };
    let reference = format!("refs/heads/{branch}");
    let parent = git(&["rev-parse", "--verify", "--quiet", &reference], None)
        .ok()
        .filter(|s| !s.is_empty());
    if let Some(parent) = &parent {
        git(&["read-tree", parent], None)?;
    }
    for (path, content) in files {
        match content {
            Content::File(text) | Content::Symlink(text) => {
                let blob = git(&["hash-object", "-w", "--stdin"], Some(text))?;
                let mode = if matches!(content, Content::Symlink(_)) {
                    "120000"
                } else {
                    "100644"
                };
                git(
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("{mode},{blob},{path}"),
                    ],
                    None,
                )?;
            }
            Content::Delete => {
                // Mode 0 removes the entry; `--force-remove` would want a work tree.
                let zero = "0".repeat(40);
                let entry = format!("0 {zero}\t{path}\n");
                git(&["update-index", "--index-info"], Some(&entry))?;
            }
        }
    }
    let tree = git(&["write-tree"], None)?;
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
    if let Some(parent) = &parent {
        args.extend(["-p", parent.as_str()]);
    }
    let commit = git(&args, None)?;
    git(&["update-ref", &reference, &commit], None)?;
    let _ = std::fs::remove_file(&index);
    Ok(commit)
}
