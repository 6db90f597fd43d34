//! Detect-and-read a new commit in a 1,000-file repository over loopback smart HTTP (lighttpd +
//! git-http-backend), side by side in one run with the git command line doing the same work:
//! `git fetch` of the branch, then reading every file of the new tree (`ls-tree -r` +
//! `cat-file --batch`). Before each measured iteration a new commit changing one file is made on
//! the server, so both sides really have something to detect and fetch.
//!
//! Then the big repository's benchmarks (`fetch/big.rs`): 20,000 files, 10,000 commits.

#[path = "fetch/big.rs"]
mod big;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use capstan_git::{CacheLimits, Credentials, EntryKind, GitTree, RepoCache};
use capstan_testenv::{Content, GitServers, commit_files, run_git};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const FILES: usize = 1000;

struct Fixture {
    servers: &'static GitServers,
    repo: PathBuf,
    url: String,
    creds: Credentials,
    cli_clone: PathBuf,
    counter: AtomicUsize,
}

impl Fixture {
    fn new(rt: &tokio::runtime::Runtime) -> Self {
        let servers = rt.block_on(GitServers::shared()).expect("git servers");
        let name = format!("bench-{}.git", std::process::id());
        let repo = servers.create_repo(&name).expect("repo");
        let files: Vec<(String, String)> = (0..FILES)
            .map(|i| {
                let path = format!("apps/app-{:02}/manifest-{i:04}.yaml", i % 50);
                let body = format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  index: \"{i}\"\n  filler: \"{}\"\n",
                    "x".repeat(200)
                );
                (path, body)
            })
            .collect();
        let contents: Vec<(&str, Content<'_>)> = files
            .iter()
            .map(|(p, b)| (p.as_str(), Content::File(b)))
            .collect();
        commit_files(&repo, "main", &contents, "1000 manifests").expect("seed");
        let (user, password) = servers.http_credentials();
        let url = servers.http_url(&name);
        let cli_clone = servers
            .dir()
            .join(format!("bench-cli-{}", std::process::id()));
        let authed = url.replace("http://", &format!("http://{user}:{password}@"));
        run_git(
            servers.dir(),
            &[
                "clone",
                "--quiet",
                "--bare",
                &authed,
                &cli_clone.display().to_string(),
            ],
        )
        .expect("clone");
        Self {
            servers,
            repo,
            url,
            creds: Credentials {
                basic: Some((user.to_owned(), password.to_owned())),
                ..Credentials::none()
            },
            cli_clone,
            counter: AtomicUsize::new(0),
        }
    }

    /// A new commit on the server that changes one file.
    fn push_change(&self) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-0\ndata:\n  revision: \"{n}\"\n"
        );
        commit_files(
            &self.repo,
            "main",
            &[("apps/app-00/manifest-0000.yaml", Content::File(&body))],
            "bump",
        )
        .expect("commit");
    }
}

/// Reads every file under `dir` of the tree; returns the bytes read.
fn read_all(tree: &GitTree, dir: &str) -> usize {
    let mut total = 0;
    for (name, kind) in tree.read_dir(dir).expect("read_dir") {
        let path = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        total += match kind {
            EntryKind::Dir => read_all(tree, &path),
            EntryKind::File => tree.read_file(&path).expect("read").len(),
            EntryKind::Submodule => 0,
        };
    }
    total
}

/// `git fetch` the branch, then read every blob of its tree with one `cat-file --batch`.
fn git_cli_fetch_and_read(clone: &Path) -> usize {
    let git_dir = format!("--git-dir={}", clone.display());
    run_git(
        clone,
        &[
            &git_dir,
            "fetch",
            "--quiet",
            "origin",
            "+refs/heads/main:refs/heads/main",
        ],
    )
    .expect("git fetch");
    let listing =
        run_git(clone, &[&git_dir, "ls-tree", "-r", "--object-only", "main"]).expect("ls-tree");
    let mut child = Command::new("git")
        .args([git_dir.as_str(), "cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cat-file");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(format!("{listing}\n").as_bytes()));
    let output = child.wait_with_output().expect("cat-file output");
    writer.join().expect("writer").expect("write");
    output.stdout.len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = Fixture::new(&rt);
    let cache_dir = fixture
        .servers
        .dir()
        .join(format!("bench-cache-{}", std::process::id()));
    let cache = RepoCache::new(&cache_dir, CacheLimits::default());
    rt.block_on(cache.resolve(&fixture.url, &fixture.creds, "main"))
        .expect("warm the cache");

    let mut group = c.benchmark_group("detect and read a new commit (1,000 files, loopback HTTP)");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("capstan-git", |b| {
        b.iter_batched(
            || fixture.push_change(),
            |()| {
                rt.block_on(async {
                    let resolved = cache
                        .resolve(&fixture.url, &fixture.creds, "main")
                        .await
                        .expect("resolve");
                    let tree = cache
                        .tree(&fixture.url, &resolved.access, &resolved.commit.sha)
                        .await
                        .expect("tree");
                    tokio::task::spawn_blocking(move || read_all(&tree, ""))
                        .await
                        .expect("read")
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("git CLI (fetch + ls-tree + cat-file --batch)", |b| {
        b.iter_batched(
            || fixture.push_change(),
            |()| git_cli_fetch_and_read(&fixture.cli_clone),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // The proof of access lasts the authorization bound (60 s), longer than this measurement.
    let head = rt
        .block_on(cache.resolve(&fixture.url, &fixture.creds, "main"))
        .expect("resolve");
    c.bench_function("read 1,000 files of a cached commit (capstan-git)", |b| {
        b.iter(|| {
            let tree = rt
                .block_on(cache.tree(&fixture.url, &head.access, &head.commit.sha))
                .expect("tree");
            read_all(&tree, "")
        })
    });

    big::bench(c, &rt, &fixture.creds);
}

criterion_group!(benches, bench);
criterion_main!(benches);
