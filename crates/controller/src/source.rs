//! Rendering an Application's `path` at a revision of its repository, straight from the git
//! cache: resolve the revision with the caller's credentials (I/O), verify its signature when the
//! Application trusts only signed commits (I/O), open that commit with the access proof the
//! resolve returned (I/O), then render the directory through [`CommitFs`] on the blocking pool —
//! git reads block and the renderer calls them synchronously.
//!
//! Guarantees: a revision that must be signed is verified before anything of its tree is read or
//! a kept render of it is served; nothing is read from the machine's filesystem — every file
//! comes from the commit, and a symbolic link leading out of the repository is refused by the
//! tree, one leading out of a kustomization's directory by the load restrictor (through
//! [`CommitFs`]'s `real_path`); the commit rendered is the one returned.

use std::time::Duration;

pub use crate::renders::Renders;
use capstan_api::Reason;
use capstan_git::{CommitInfo, Credentials, RepoCache, TrustedKeys};
use capstan_render::{Options, RenderError};
use serde_json::Value;

use crate::commit_fs::CommitFs;

/// An Application's manifests at one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The commit the revision resolved to, which was rendered.
    pub commit: CommitInfo,
    /// The objects, in the renderer's order.
    pub objects: Vec<Value>,
}

/// Why an Application's source could not be rendered. Each variant names the step that failed;
/// the message is complete on its own (it carries its source's words), for status conditions.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The Application's `path` is not a path inside the repository.
    #[error("invalid application path {path:?}: {reason}")]
    InvalidPath {
        /// The path as written in the Application.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The revision could not be resolved (or fetched) with the given credentials.
    #[error("failed to resolve revision {revision:?}: {source}")]
    Resolve {
        /// The revision asked for.
        revision: String,
        /// The git failure.
        #[source]
        source: Box<capstan_git::Error>,
    },
    /// The resolved commit (or the annotated tag the revision named) is not signed by a trusted
    /// key, or its signature could not be checked; nothing of it was read.
    #[error("refused to deploy revision {revision:?}: {source}")]
    Verify {
        /// The revision asked for.
        revision: String,
        /// The refusal (naming the commit and the signer), or the git failure.
        #[source]
        source: Box<capstan_git::Error>,
    },
    /// The resolved commit could not be opened from the cache.
    #[error("failed to open commit {commit}: {source}")]
    Open {
        /// The commit.
        commit: String,
        /// The git failure.
        #[source]
        source: Box<capstan_git::Error>,
    },
    /// The Application's `path` could not be read from the commit.
    #[error("failed to read path {path} at commit {commit}: {source}")]
    Read {
        /// The path, normalized.
        path: String,
        /// The commit.
        commit: String,
        /// The git failure.
        #[source]
        source: Box<capstan_git::Error>,
    },
    /// Nothing is at the Application's `path` in the commit.
    #[error("path {path} not found at commit {commit}")]
    PathNotFound {
        /// The path, normalized.
        path: String,
        /// The commit.
        commit: String,
    },
    /// The Application's `path` is a file in the commit, not a directory.
    #[error("path {path} at commit {commit} is a file, not a directory")]
    NotADirectory {
        /// The path, normalized.
        path: String,
        /// The commit.
        commit: String,
    },
    /// The renderer refused or failed the directory.
    #[error("failed to render {path} at commit {commit}: {source}")]
    Render {
        /// The path, normalized.
        path: String,
        /// The commit.
        commit: String,
        /// The renderer's error, naming the file and entry.
        #[source]
        source: Box<RenderError>,
    },
    /// The blocking render task panicked or was cancelled.
    #[error("failed to render {path} at commit {commit}: the render task failed: {source}")]
    Task {
        /// The path, normalized.
        path: String,
        /// The commit.
        commit: String,
        /// The task's failure.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl SourceError {
    /// Why, for conditions, Events and metric labels: git's own reason for fetching and reading,
    /// `SourceReadFailed` for a path that is not there, `RenderFailed` for the renderer.
    pub fn reason(&self) -> Reason {
        match self {
            SourceError::Resolve { source, .. }
            | SourceError::Verify { source, .. }
            | SourceError::Open { source, .. }
            | SourceError::Read { source, .. } => source.reason(),
            SourceError::InvalidPath { .. }
            | SourceError::PathNotFound { .. }
            | SourceError::NotADirectory { .. } => Reason::SourceReadFailed,
            SourceError::Render { .. } | SourceError::Task { .. } => Reason::RenderFailed,
        }
    }

    /// Whether trying again soon may help: as git says for fetching and reading; never for a
    /// path or the manifests, which stay wrong until the spec or the repository changes.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Resolve { source, .. }
            | SourceError::Verify { source, .. }
            | SourceError::Open { source, .. }
            | SourceError::Read { source, .. } => source.is_retryable(),
            SourceError::InvalidPath { .. }
            | SourceError::PathNotFound { .. }
            | SourceError::NotADirectory { .. }
            | SourceError::Render { .. }
            | SourceError::Task { .. } => false,
        }
    }
}

/// Renders the directory `path` (relative to the repository root) of `revision` of the
/// repository at `url`, read with `creds`: a kustomization, or a plain directory of YAML.
pub async fn render_revision(
    cache: &RepoCache,
    url: &str,
    creds: &Credentials,
    revision: &str,
    path: &str,
    options: &Options,
) -> Result<Rendered, SourceError> {
    let at = At {
        revision,
        checked_within: Duration::ZERO,
        renders: None,
        verify: None,
    };
    render_at(cache, url, creds, at, path, options).await
}

/// A revision, and how old a check of it by the same credentials may be to be taken instead of
/// asking the server again (`Duration::ZERO`: ask).
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// The revision: a branch, tag or commit.
    pub revision: &'a str,
    /// See [`capstan_git::RepoCache::resolve_within`].
    pub checked_within: Duration,
    /// Where the last render of each (repository, path) is kept, so an unchanged commit is not
    /// rendered again; `None`: always render.
    pub renders: Option<&'a Renders>,
    /// The keys the revision (its annotated tag, else its commit) must be signed by; `None`:
    /// no signature is required.
    pub verify: Option<&'a TrustedKeys>,
}

/// [`render_revision`] at `at`.
#[tracing::instrument(level = "debug", skip_all, fields(revision = %at.revision, path = %path))]
pub async fn render_at(
    cache: &RepoCache,
    url: &str,
    creds: &Credentials,
    at: At<'_>,
    path: &str,
    options: &Options,
) -> Result<Rendered, SourceError> {
    let revision = at.revision;
    let dir = app_dir(path)?;
    let resolved = cache
        .resolve_within(url, creds, revision, at.checked_within)
        .await
        .map_err(|source| SourceError::Resolve {
            revision: revision.to_owned(),
            source: Box::new(source),
        })?;
    // Before the kept render and the tree: nothing of a refused revision is served or read.
    if let Some(keys) = at.verify {
        let verified = cache.verify(url, &resolved, keys).await;
        verified.map_err(|source| SourceError::Verify {
            revision: revision.to_owned(),
            source: Box::new(source),
        })?;
    }
    let commit = resolved.commit;
    if let Some(objects) = at.renders.and_then(|r| r.get(url, &dir, &commit.sha)) {
        return Ok(Rendered { commit, objects });
    }
    let tree = cache
        .tree(url, &resolved.access, &commit.sha)
        .await
        .map_err(|source| SourceError::Open {
            commit: commit.sha.clone(),
            source: Box::new(source),
        })?;
    let fs = CommitFs::new(tree);
    let options = *options;
    let task_dir = dir.clone();
    let objects = tokio::task::spawn_blocking(move || render_dir(&fs, &task_dir, &options))
        .await
        .map_err(|source| SourceError::Task {
            path: display(&dir),
            commit: commit.sha.clone(),
            source,
        })??;
    tracing::debug!(commit = %commit.sha, objects = objects.len(), "rendered");
    if let Some(renders) = at.renders {
        renders.keep(url, &dir, &commit.sha, &objects);
    }
    Ok(Rendered { commit, objects })
}

/// Renders the directory `dir` (normalized) of the commit `fs` serves, after checking that it is
/// a directory so that a wrong path is named as such. A `dir` reached through a symbolic link is
/// rendered where the link leads, as kustomize takes a kustomization's root after resolving links
/// (its `../` entries are relative to the real directory). Blocks.
pub fn render_dir(fs: &CommitFs, dir: &str, options: &Options) -> Result<Vec<Value>, SourceError> {
    let commit = || fs.commit().sha.clone();
    let read = |source: capstan_git::Error| SourceError::Read {
        path: display(dir),
        commit: commit(),
        source: Box::new(source),
    };
    let not_found = || SourceError::PathNotFound {
        path: display(dir),
        commit: commit(),
    };
    let real = fs
        .tree()
        .resolve(dir)
        .map_err(read)?
        .ok_or_else(not_found)?;
    match fs.tree().kind(&real).map_err(read)? {
        None => Err(not_found()),
        Some(capstan_git::EntryKind::File) => Err(SourceError::NotADirectory {
            path: display(dir),
            commit: commit(),
        }),
        Some(capstan_git::EntryKind::Dir | capstan_git::EntryKind::Submodule) => {
            capstan_render::render(fs, &real, options).map_err(|source| SourceError::Render {
                path: display(dir),
                commit: commit(),
                source: Box::new(source),
            })
        }
    }
}

/// An Application's `path` as the renderer's directory: relative to the repository root,
/// normalized (`""`, `.` and `/`-free forms alike name the root). An absolute path, or one that
/// climbs above the root, is refused.
pub fn app_dir(path: &str) -> Result<String, SourceError> {
    let invalid = |reason| SourceError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.starts_with('/') {
        return Err(invalid(
            "absolute; a path is relative to the repository root",
        ));
    }
    capstan_render::fs::join("", path).ok_or_else(|| invalid("climbs above the repository root"))
}

/// A normalized directory for messages: the root is `.`.
fn display(dir: &str) -> String {
    if dir.is_empty() {
        ".".to_owned()
    } else {
        dir.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_path_is_normalized_relative_to_the_repository_root() {
        for (path, dir) in [
            ("", ""),
            (".", ""),
            ("./", ""),
            ("apps/web", "apps/web"),
            ("./apps//web/", "apps/web"),
            ("apps/web/../api", "apps/api"),
            ("apps/..", ""),
        ] {
            assert_eq!(app_dir(path).expect(path), dir, "{path:?}");
        }
    }

    #[test]
    fn an_absolute_or_climbing_application_path_is_refused_naming_it() {
        for (path, why) in [
            ("/etc", "absolute"),
            ("..", "climbs above the repository root"),
            ("apps/../../x", "climbs above the repository root"),
        ] {
            let err = app_dir(path).expect_err(path);
            let message = err.to_string();
            assert!(
                message.contains(&format!("{path:?}")) && message.contains(why),
                "{message}"
            );
            assert_eq!(err.reason(), Reason::SourceReadFailed);
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn the_root_is_named_as_a_dot() {
        assert_eq!(display(""), ".");
        assert_eq!(display("apps/web"), "apps/web");
    }
}
