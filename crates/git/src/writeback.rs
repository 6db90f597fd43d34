//! Write-back: commit a set of file changes on a branch and push it. Each attempt fetches the
//! branch, applies the changes to its newest commit and pushes fast-forward only; when another
//! writer got there first the push is rejected, and the next attempt re-applies the same changes
//! on top of the new head — so no one's commit is lost. Files that already have the wanted
//! content make no commit at all.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use git2::{Index, IndexEntry, IndexTime, Oid, Repository, Signature};

use crate::access::CredentialId;
use crate::cache::{RepoCache, open_repo, session_uses_bearer};
use crate::remote::{PushOutcome, Session};
use crate::{Credentials, Error, RepoUrl};

/// Attempts before a write-back gives up on a contended branch.
const MAX_ATTEMPTS: u32 = 6;

/// One file to write (or delete, with `content: None`), path relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// e.g. `overlays/prod/kustomization.yaml`.
    pub path: String,
    /// The new content, or `None` to delete the file.
    pub content: Option<Vec<u8>>,
}

/// A commit to make and push.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// Branch to commit on (created when the repository has no such branch).
    pub branch: String,
    /// Author and committer name.
    pub author_name: String,
    /// Author and committer email.
    pub author_email: String,
    /// Commit message.
    pub message: String,
    /// The changes.
    pub changes: Vec<FileChange>,
}

/// What a write-back did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A commit was pushed.
    Pushed {
        /// Its SHA.
        sha: String,
        /// Attempts it took (more than one when another writer pushed first).
        attempts: u32,
    },
    /// The branch already has that content: nothing was committed.
    Unchanged {
        /// The branch head that already has it.
        sha: String,
    },
}

impl RepoCache {
    /// Commits `request.changes` on `request.branch` of the repository at `url` and pushes,
    /// retrying on top of the new head when another writer pushed first.
    #[tracing::instrument(skip(self, creds, request), fields(url = %crate::url::redact(url), branch = %request.branch))]
    pub async fn write_back(
        &self,
        url: &str,
        creds: &Credentials,
        request: &WriteRequest,
    ) -> Result<WriteOutcome, Error> {
        let url = RepoUrl::parse(url)?;
        let slot = self.slot(&url);
        let _serialized = slot.lock.lock().await;
        let identity = CredentialId::of(&url, creds);
        let mut last_rejection = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let (dir, creds, req, url_owned) = (
                slot.dir.clone(),
                creds.clone(),
                request.clone(),
                url.clone(),
            );
            let step = self
                .blocking("push to", &url, move |cancel| {
                    attempt_write(&dir, &url_owned, &creds, &req, cancel)
                })
                .await
                .inspect_err(|err| {
                    // A refusal withdraws what earlier checks with these credentials vouched for.
                    if matches!(err, Error::Unauthorized { .. }) {
                        slot.grants.revoke(identity);
                    }
                })?;
            match step {
                Step::Pushed(sha) => {
                    return Ok(WriteOutcome::Pushed {
                        sha,
                        attempts: attempt,
                    });
                }
                Step::Unchanged(sha) => return Ok(WriteOutcome::Unchanged { sha }),
                Step::Rejected(reason) => {
                    tracing::info!(attempt, %reason, "push rejected; retrying on the new head");
                    last_rejection = reason;
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
            }
        }
        Err(Error::PushRejected {
            url: url.to_string(),
            branch: request.branch.clone(),
            attempts: MAX_ATTEMPTS,
            reason: last_rejection,
        })
    }
}

/// How one attempt ended.
enum Step {
    Pushed(String),
    Unchanged(String),
    Rejected(String),
}

/// One fetch–commit–push attempt.
fn attempt_write(
    dir: &Path,
    url: &RepoUrl,
    creds: &Credentials,
    req: &WriteRequest,
    cancel: Arc<AtomicBool>,
) -> Result<Step, Error> {
    let repo = open_repo(dir)?;
    let session = Session::new(url, creds, cancel);
    let remote_ref = format!("refs/heads/{}", req.branch);
    let head = remote_head(&session, &repo, url, creds, &remote_ref)?
        .map(|oid| Oid::from_str(&oid).map_err(|e| Error::local("parse the branch head", e)))
        .transpose()?;
    let local = |action: &str| {
        let action = action.to_owned();
        move |e: git2::Error| Error::local(action, e)
    };
    let head_commit = head
        .map(|oid| repo.find_commit(oid))
        .transpose()
        .map_err(local("find the branch head"))?;
    let tree = apply_changes(
        &repo,
        head_commit.as_ref().map(|c| c.tree_id()),
        &req.changes,
    )?;
    if let Some(head) = &head_commit
        && head.tree_id() == tree
    {
        return Ok(Step::Unchanged(head.id().to_string()));
    }
    let signature = Signature::now(&req.author_name, &req.author_email)
        .map_err(local("make the commit signature"))?;
    let tree = repo.find_tree(tree).map_err(local("find the new tree"))?;
    let parents: Vec<&git2::Commit<'_>> = head_commit.iter().collect();
    let commit = repo
        .commit(None, &signature, &signature, &req.message, &tree, &parents)
        .map_err(local("commit"))?;
    let push_ref = format!("refs/capstan/push/{}", req.branch);
    repo.reference(&push_ref, commit, true, "capstan write-back")
        .map_err(local("record the commit to push"))?;
    Ok(match session.push(&repo, &push_ref, &remote_ref)? {
        PushOutcome::Pushed => {
            let _ = repo.reference(&remote_ref, commit, true, "capstan write-back pushed");
            Step::Pushed(commit.to_string())
        }
        PushOutcome::Rejected(reason) => Step::Rejected(reason),
    })
}

/// The remote's head of `remote_ref` (`None` when the branch does not exist yet), fetched into the
/// cache when it moved.
fn remote_head(
    session: &Session<'_>,
    repo: &Repository,
    url: &RepoUrl,
    creds: &Credentials,
    remote_ref: &str,
) -> Result<Option<String>, Error> {
    if session_uses_bearer(url, creds) {
        // libgit2 sends no custom header when only listing refs, so a bearer token cannot list:
        // the branch is fetched into a ref of write-back's own, removed first so that its
        // absence after the fetch means the remote has no such branch.
        let probe = format!(
            "refs/capstan/writeback/{}",
            remote_ref.trim_start_matches("refs/heads/")
        );
        if let Ok(mut stale) = repo.find_reference(&probe) {
            stale
                .delete()
                .map_err(|e| Error::local("remove the previous write-back probe", e))?;
        }
        session.fetch(repo, &[format!("+{remote_ref}:{probe}")])?;
        let head = repo.refname_to_id(&probe).ok().map(|o| o.to_string());
        if let Some(oid) = &head {
            let oid = Oid::from_str(oid).map_err(|e| Error::local("parse the branch head", e))?;
            repo.reference(remote_ref, oid, true, "capstan write-back fetch")
                .map_err(|e| Error::local("record the branch head", e))?;
        }
        return Ok(head);
    }
    // One connection: list the refs, fetch the branch when the remote has it and it moved.
    let (adv, _) = session.list_and_fetch(repo, |adv| {
        let remote_head = adv
            .refs
            .iter()
            .find(|(name, _)| *name == remote_ref)
            .map(|(_, oid)| oid.as_str());
        let local_head = repo.refname_to_id(remote_ref).ok().map(|o| o.to_string());
        Ok(match remote_head {
            Some(oid) if local_head.as_deref() != Some(oid) => {
                vec![format!("+{remote_ref}:{remote_ref}")]
            }
            _ => Vec::new(),
        })
    })?;
    Ok(adv
        .refs
        .into_iter()
        .find(|(name, _)| *name == remote_ref)
        .map(|(_, oid)| oid))
}

/// The tree of `base` with `changes` applied, written to the object database.
fn apply_changes(
    repo: &Repository,
    base: Option<Oid>,
    changes: &[crate::FileChange],
) -> Result<Oid, Error> {
    let local = |action: &'static str| move |e: git2::Error| Error::local(action, e);
    let mut index = Index::new().map_err(local("create an index"))?;
    if let Some(base) = base {
        let tree = repo
            .find_tree(base)
            .map_err(local("read the branch tree"))?;
        index
            .read_tree(&tree)
            .map_err(local("read the branch tree"))?;
    }
    for change in changes {
        let path = change.path.trim_start_matches('/');
        if path
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Err(Error::local(
                format!("write {path}"),
                "the path must be relative and inside the repository",
            ));
        }
        match &change.content {
            Some(content) => {
                let blob = repo
                    .blob(content)
                    .map_err(|e| Error::local(format!("store {path}"), e))?;
                let entry = IndexEntry {
                    ctime: IndexTime::new(0, 0),
                    mtime: IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: 0o100644,
                    uid: 0,
                    gid: 0,
                    file_size: u32::try_from(content.len()).unwrap_or(u32::MAX),
                    id: blob,
                    flags: 0,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                };
                index
                    .add(&entry)
                    .map_err(|e| Error::local(format!("stage {path}"), e))?;
            }
            None => {
                index
                    .remove_path(Path::new(path))
                    .map_err(|e| Error::local(format!("remove {path}"), e))?;
            }
        }
    }
    index
        .write_tree_to(repo)
        .map_err(local("write the new tree"))
}
