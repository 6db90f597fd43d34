//! Rendering an Application's path straight from a commit, against the real git test servers: a
//! kustomize overlay renders from the commit exactly as the same files render from disk; a
//! symbolic link out of the repository (absolute, or climbing) fails the render naming the path
//! and never reads the machine's file; links that stay inside work where kustomize allows them and
//! the load restrictor still confines each kustomization; a missing path names path and commit.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, ensure};
use capstan_api::Reason;
use capstan_controller::{Rendered, SourceError, render_revision};
use capstan_git::{CacheLimits, Credentials, RepoCache};
use capstan_render::{DiskFs, Options, yaml::to_yaml_stream};
use capstan_testenv::{Content, GitServers, commit_files};

/// What the secret file outside the repository holds: a manifest that would render if read.
const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-REPOSITORY";

/// The repository's regular files (also written to disk for the comparison).
const FILES: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        "resources:\n  - deployment.yaml\n  - service.yaml\n",
    ),
    (
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    \
         spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n          \
         envFrom:\n            - configMapRef:\n                name: settings\n",
    ),
    (
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n",
    ),
    (
        "overlays/prod/kustomization.yaml",
        "resources:\n  - ../../base\nnamePrefix: prod-\nlabels:\n  - pairs:\n      env: prod\n\
         configMapGenerator:\n  - name: settings\n    literals:\n      - MODE=prod\n\
         images:\n  - name: nginx\n    newTag: \"1.28\"\n",
    ),
    (
        "plain/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    ),
    (
        "plain/sub/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\napiVersion: v1\n\
         kind: ConfigMap\nmetadata:\n  name: c\n",
    ),
    ("linked/kustomization.yaml", "resources:\n  - base\n"),
    ("restricted/kustomization.yaml", "resources:\n  - a.yaml\n"),
    (
        "escape-absolute/kustomization.yaml",
        "resources:\n  - leak.yaml\n",
    ),
    (
        "escape-climbing/kustomization.yaml",
        "resources:\n  - leak.yaml\n",
    ),
];

/// A repository of [`FILES`] and links, on the test servers, and a cache to read it with.
struct Fixture {
    servers: &'static GitServers,
    url: String,
    creds: Credentials,
    cache: RepoCache,
    sha: String,
}

impl Fixture {
    async fn new() -> anyhow::Result<Self> {
        let servers = GitServers::shared().await?;
        let name = unique("render");
        let repo = servers.create_repo(&format!("{name}.git"))?;
        let secret = servers.dir().join(format!("{name}-secret.yaml"));
        std::fs::write(
            &secret,
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {SECRET}\n"),
        )?;
        let absolute = secret.display().to_string();
        let climbing = format!("{}{}", "../".repeat(40), absolute.trim_start_matches('/'));
        let mut files: Vec<(&str, Content<'_>)> =
            FILES.iter().map(|(p, c)| (*p, Content::File(c))).collect();
        files.extend([
            // Inside the repository: the app path itself, and a resource directory.
            ("current", Content::Symlink("overlays/prod")),
            ("linked/base", Content::Symlink("../base")),
            // Inside the repository, but out of the kustomization's directory.
            ("restricted/a.yaml", Content::Symlink("../plain/a.yaml")),
            // Out of the repository.
            ("escape-absolute/leak.yaml", Content::Symlink(&absolute)),
            ("escape-climbing/leak.yaml", Content::Symlink(&climbing)),
        ]);
        let sha = commit_files(&repo, "main", &files, "manifests")?;
        let (user, password) = servers.http_credentials();
        let cache_dir = servers.dir().join("caches").join(unique("controller"));
        std::fs::create_dir_all(&cache_dir)?;
        Ok(Self {
            servers,
            url: servers.http_url(&format!("{name}.git")),
            creds: Credentials {
                basic: Some((user.to_owned(), password.to_owned())),
                ..Credentials::none()
            },
            cache: RepoCache::new(cache_dir, CacheLimits::default()),
            sha,
        })
    }

    async fn render(&self, path: &str) -> Result<Rendered, SourceError> {
        render_revision(
            &self.cache,
            &self.url,
            &self.creds,
            "main",
            path,
            &Options::default(),
        )
        .await
    }

    /// The YAML `dir` renders to from [`FILES`] written to disk (links left out).
    fn render_from_disk(&self, dir: &str) -> anyhow::Result<String> {
        let root = self.servers.dir().join(unique("disk"));
        for (path, content) in FILES {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().context("a parent")?)?;
            std::fs::write(file, content)?;
        }
        let rendered =
            capstan_render::render_to_yaml(&DiskFs::new(&root)?, dir, &Options::default());
        std::fs::remove_dir_all(&root)?;
        Ok(rendered?)
    }
}

/// A name unique to this test process.
/// Basic-auth credentials the server refuses.
fn wrong_creds() -> Credentials {
    Credentials {
        basic: Some(("nobody".to_owned(), "wrong".to_owned())),
        ..Credentials::none()
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The names of the objects rendered, in order.
fn names(rendered: &Rendered) -> Vec<&str> {
    rendered
        .objects
        .iter()
        .filter_map(|o| o.pointer("/metadata/name")?.as_str())
        .collect()
}

/// The message of `err` with every source in its chain.
fn chain(err: &SourceError) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(next) = source {
        message.push_str(&format!(" / {next}"));
        source = next.source();
    }
    message
}

#[tokio::test]
async fn an_overlay_renders_from_the_commit_exactly_as_from_disk() -> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    let rendered = fixture.render("overlays/prod").await?;
    ensure!(rendered.commit.sha == fixture.sha, "{:?}", rendered.commit);
    let from_commit = to_yaml_stream(&rendered.objects);
    ensure!(
        from_commit == fixture.render_from_disk("overlays/prod")?,
        "the commit rendered differently:\n{from_commit}"
    );
    for needle in [
        "name: prod-web",
        "image: nginx:1.28",
        "env: prod",
        "name: prod-settings-",
    ] {
        ensure!(
            from_commit.contains(needle),
            "no {needle:?} in\n{from_commit}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_symlink_out_of_the_repository_fails_the_render_naming_it_and_reads_nothing_outside()
-> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    for dir in ["escape-absolute", "escape-climbing"] {
        let err = fixture
            .render(dir)
            .await
            .err()
            .with_context(|| format!("{dir} rendered"))?;
        let message = chain(&err);
        let link = format!("{dir}/leak.yaml");
        for needle in [&link, "points outside the repository", &fixture.sha] {
            ensure!(
                message.contains(needle),
                "{dir}: no {needle:?} in {message}"
            );
        }
        ensure!(!message.contains(SECRET), "{dir}: leaked: {message}");
        ensure!(
            err.reason() == Reason::RenderFailed && !err.is_retryable(),
            "{err}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn symlinks_inside_the_repository_are_followed() -> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    let expected = fixture.render_from_disk("overlays/prod")?;
    let through_link = fixture.render("current").await?;
    ensure!(
        to_yaml_stream(&through_link.objects) == expected,
        "an application path that is a link renders as its target"
    );
    let linked = fixture.render("linked").await?;
    let names = names(&linked);
    ensure!(
        names == ["web", "web"],
        "a linked resource directory: {names:?}"
    );
    Ok(())
}

/// The guard for `CommitFs::real_path`: were it to answer the path unchanged, the file would load.
#[tokio::test]
async fn a_symlink_out_of_the_kustomization_directory_is_refused_by_the_load_restrictor()
-> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    let err = fixture
        .render("restricted")
        .await
        .err()
        .context("a file outside the kustomization's directory was loaded")?;
    let message = chain(&err);
    ensure!(
        message.contains("file 'plain/a.yaml' is not in or below 'restricted'"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_or_file_path_is_named_with_the_commit() -> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    for (path, expected) in [
        (
            "apps/missing",
            format!("path apps/missing not found at commit {}", fixture.sha),
        ),
        (
            "./plain/a.yaml",
            format!(
                "path plain/a.yaml at commit {} is a file, not a directory",
                fixture.sha
            ),
        ),
    ] {
        let err = fixture.render(path).await.err().context("rendered")?;
        ensure!(err.to_string() == expected, "{path}: {err}");
        ensure!(
            err.reason() == Reason::SourceReadFailed && !err.is_retryable(),
            "{err}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_plain_directory_of_yaml_renders_every_document() -> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    let rendered = fixture.render("plain").await?;
    ensure!(
        to_yaml_stream(&rendered.objects) == fixture.render_from_disk("plain")?,
        "the commit rendered differently"
    );
    let names = names(&rendered);
    ensure!(names == ["a", "b", "c"], "{names:?}");
    Ok(())
}

#[tokio::test]
async fn a_missing_revision_or_refused_credentials_fail_the_resolve_step() -> anyhow::Result<()> {
    let fixture = Fixture::new().await?;
    let err = render_revision(
        &fixture.cache,
        &fixture.url,
        &fixture.creds,
        "no-such-branch",
        "plain",
        &Options::default(),
    )
    .await
    .err()
    .context("a missing revision rendered")?;
    ensure!(
        matches!(err, SourceError::Resolve { .. }) && err.reason() == Reason::RevisionNotFound,
        "{err}"
    );
    let wrong = wrong_creds();
    let err = render_revision(
        &fixture.cache,
        &fixture.url,
        &wrong,
        "main",
        "plain",
        &Options::default(),
    )
    .await
    .err()
    .context("refused credentials rendered")?;
    ensure!(
        err.reason() == Reason::AuthenticationFailed && !err.is_retryable(),
        "{err}"
    );
    Ok(())
}

/// An unchanged commit is rendered once: a second render of the same (repository, path, commit)
/// is served from `Renders` — only after the caller's own resolve succeeded, so credentials the
/// server refuses get nothing from it — and a new commit is rendered again.
#[tokio::test]
async fn an_unchanged_commit_is_rendered_once_and_never_served_to_refused_credentials()
-> anyhow::Result<()> {
    use capstan_controller::source::{At, Renders, render_at};
    let fixture = Fixture::new().await?;
    let renders = Renders::default();
    let at = At {
        revision: "main",
        checked_within: std::time::Duration::ZERO,
        renders: Some(&renders),
        verify: None,
    };
    let options = Options::default();
    let (cache, url) = (&fixture.cache, fixture.url.as_str());
    let first = render_at(cache, url, &fixture.creds, at, "plain", &options).await?;
    let again = render_at(cache, url, &fixture.creds, at, "plain", &options).await?;
    ensure!(renders.hits() == 1 && names(&again) == names(&first));
    let wrong = wrong_creds();
    let refused = render_at(cache, url, &wrong, at, "plain", &options).await;
    ensure!(refused.is_err(), "refused credentials got the kept render");
    ensure!(renders.hits() == 1);
    Ok(())
}
