//! Reading one commit's files straight from the object database, no work tree. Paths are
//! relative to the repository root and confined to it: `..` cannot climb out, and symbolic links
//! are followed only while they stay inside the repository — a link that points outside (an
//! absolute target, or one that climbs above the root) is refused, as kustomize's load restrictor
//! would.

use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid, Repository};

use crate::Error;
use crate::cache::{CommitInfo, Slot, commit_info};

/// Largest file that is read (manifests are small; this bounds a hostile repository).
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Symbolic links followed for one path before it counts as a loop.
const MAX_LINK_HOPS: usize = 40;

/// Why a read finds no repository handle (only once the tree is being dropped).
const CLOSED: &str = "the tree is closed";

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular (or executable) file.
    File,
    /// A directory.
    Dir,
    /// A submodule (its content is not in this repository).
    Submodule,
}

/// The files of one commit. Reads are synchronous: the renderer calls them from a blocking task.
pub struct GitTree {
    // Keeps the cached repository from being evicted while the tree is in use; the handle goes
    // back to it when the tree is dropped.
    slot: Arc<Slot>,
    repo: Mutex<Option<Repository>>,
    tree: Oid,
    commit: CommitInfo,
}

impl std::fmt::Debug for GitTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitTree")
            .field("commit", &self.commit.sha)
            .finish_non_exhaustive()
    }
}

impl Drop for GitTree {
    fn drop(&mut self) {
        let repo = self
            .repo
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(repo) = repo {
            self.slot.give_back(repo);
        }
    }
}

impl GitTree {
    pub(crate) fn open(slot: Arc<Slot>, sha: &str) -> Result<Self, Error> {
        let repo = slot.take_repo()?;
        let oid = Oid::from_str(sha).map_err(|e| Error::local(format!("parse commit {sha}"), e))?;
        let (tree, commit) = {
            let commit = repo
                .find_commit(oid)
                .map_err(|e| Error::local(format!("find commit {sha}"), e))?;
            (commit.tree_id(), commit_info(&commit))
        };
        Ok(Self {
            slot,
            repo: Mutex::new(Some(repo)),
            tree,
            commit,
        })
    }

    /// The commit this tree belongs to.
    pub fn commit(&self) -> &CommitInfo {
        &self.commit
    }

    /// What `path` is, following symbolic links; `None` when it does not exist.
    pub fn kind(&self, path: &str) -> Result<Option<EntryKind>, Error> {
        match self.lookup(path) {
            Ok((_, kind, _)) => Ok(Some(kind)),
            Err(Lookup::NotFound) => Ok(None),
            Err(Lookup::Refused(reason)) => Err(self.read_error(path, reason)),
        }
    }

    /// Where `path` really leads: normalized, relative to the repository root, every symbolic
    /// link resolved; `None` when nothing is there. A link out of the repository is refused as
    /// for any read. A renderer's load restrictor compares these to confine a kustomization.
    pub fn resolve(&self, path: &str) -> Result<Option<String>, Error> {
        match self.lookup(path) {
            Ok((_, _, resolved)) => Ok(Some(resolved)),
            Err(Lookup::NotFound) => Ok(None),
            Err(Lookup::Refused(reason)) => Err(self.read_error(path, reason)),
        }
    }

    /// The bytes of the file at `path`.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        let (oid, kind, _) = self.lookup(path).map_err(|e| self.lookup_error(path, e))?;
        if kind != EntryKind::File {
            return Err(self.read_error(path, "not a file".to_owned()));
        }
        let guard = self.repo();
        let repo = guard
            .as_ref()
            .ok_or_else(|| self.read_error(path, CLOSED.to_owned()))?;
        let blob = repo
            .find_blob(oid)
            .map_err(|e| self.read_error(path, e.message().to_owned()))?;
        if blob.size() > MAX_FILE_BYTES {
            return Err(self.read_error(path, format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        Ok(blob.content().to_vec())
    }

    /// The entries of the directory at `path` (`""` is the root), sorted by name, symbolic links
    /// resolved; entries whose link is broken or leads outside are left out.
    pub fn read_dir(&self, path: &str) -> Result<Vec<(String, EntryKind)>, Error> {
        let (oid, kind, resolved) = self.lookup(path).map_err(|e| self.lookup_error(path, e))?;
        if kind != EntryKind::Dir {
            return Err(self.read_error(path, "not a directory".to_owned()));
        }
        // Plain entries take their kind from the tree; only symbolic links need resolving.
        let listed: Vec<(String, Option<EntryKind>)> = {
            let guard = self.repo();
            let repo = guard
                .as_ref()
                .ok_or_else(|| self.read_error(path, CLOSED.to_owned()))?;
            let tree = repo
                .find_tree(oid)
                .map_err(|e| self.read_error(path, e.message().to_owned()))?;
            tree.iter()
                .filter_map(|e| {
                    let kind = match (e.filemode(), e.kind()) {
                        (0o120000, _) => None,
                        (_, Some(ObjectType::Tree)) => Some(EntryKind::Dir),
                        (_, Some(ObjectType::Commit)) => Some(EntryKind::Submodule),
                        _ => Some(EntryKind::File),
                    };
                    e.name().ok().map(|n| (n.to_owned(), kind))
                })
                .collect()
        };
        let mut entries: Vec<(String, EntryKind)> = listed
            .into_iter()
            .filter_map(|(name, kind)| match kind {
                Some(kind) => Some((name, kind)),
                None => {
                    let child = if resolved.is_empty() {
                        name.clone()
                    } else {
                        format!("{resolved}/{name}")
                    };
                    self.lookup(&child).ok().map(|(_, kind, _)| (name, kind))
                }
            })
            .collect();
        entries.sort();
        Ok(entries)
    }

    /// The handle, present until the tree is dropped.
    fn repo(&self) -> std::sync::MutexGuard<'_, Option<Repository>> {
        self.repo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_error(&self, path: &str, reason: String) -> Error {
        Error::Read {
            path: path.to_owned(),
            commit: self.commit.sha.clone(),
            reason,
        }
    }

    fn lookup_error(&self, path: &str, err: Lookup) -> Error {
        match err {
            Lookup::NotFound => self.read_error(path, "no such file or directory".to_owned()),
            Lookup::Refused(reason) => self.read_error(path, reason),
        }
    }

    /// Resolves `path` to an object, following symlinks inside the repository. Returns the
    /// object id, its kind and the resolved path.
    fn lookup(&self, path: &str) -> Result<(Oid, EntryKind, String), Lookup> {
        let guard = self.repo();
        let repo = guard
            .as_ref()
            .ok_or_else(|| Lookup::Refused(CLOSED.to_owned()))?;
        let root = repo
            .find_tree(self.tree)
            .map_err(|e| Lookup::Refused(e.message().to_owned()))?;
        let mut pending = normalize(&[], path)
            .ok_or_else(|| Lookup::Refused("the path leads outside the repository".to_owned()))?;
        pending.reverse();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        let (mut oid, mut kind) = (self.tree, EntryKind::Dir);
        while let Some(component) = pending.pop() {
            if kind != EntryKind::Dir {
                return Err(Lookup::NotFound);
            }
            let here = if resolved.is_empty() {
                component.clone()
            } else {
                format!("{}/{component}", resolved.join("/"))
            };
            let entry = root
                .get_path(std::path::Path::new(&here))
                .map_err(|_| Lookup::NotFound)?;
            if entry.filemode() == 0o120000 {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(Lookup::Refused(
                        "too many levels of symbolic links".to_owned(),
                    ));
                }
                let blob = repo
                    .find_blob(entry.id())
                    .map_err(|e| Lookup::Refused(e.message().to_owned()))?;
                let target = String::from_utf8_lossy(blob.content()).into_owned();
                let escape = || {
                    Lookup::Refused(format!(
                        "symbolic link {here} -> {target} points outside the repository"
                    ))
                };
                if target.starts_with('/') {
                    return Err(escape());
                }
                let mut next = normalize(&resolved, &target).ok_or_else(escape)?;
                next.extend(pending.into_iter().rev());
                pending = next;
                pending.reverse();
                resolved.clear();
                (oid, kind) = (self.tree, EntryKind::Dir);
                continue;
            }
            kind = match entry.kind() {
                Some(ObjectType::Tree) => EntryKind::Dir,
                Some(ObjectType::Commit) => EntryKind::Submodule,
                _ => EntryKind::File,
            };
            oid = entry.id();
            resolved.push(component);
        }
        Ok((oid, kind, resolved.join("/")))
    }
}

#[derive(Debug)]
enum Lookup {
    NotFound,
    Refused(String),
}

/// `base` joined with the relative `path`, with `.` and `..` applied; `None` when it climbs above
/// the root.
fn normalize(base: &[String], path: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = base.to_vec();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name.to_owned()),
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn paths_are_normalized_and_cannot_climb_out() {
        let base = vec!["overlays".to_owned(), "prod".to_owned()];
        assert_eq!(
            normalize(&base, "../../base/app.yaml").unwrap(),
            ["base", "app.yaml"]
        );
        assert_eq!(normalize(&[], "./a//b/./c").unwrap(), ["a", "b", "c"]);
        assert_eq!(normalize(&base, "../../../etc/passwd"), None);
        assert_eq!(normalize(&[], "..").as_deref(), None);
        assert!(normalize(&[], "").unwrap().is_empty());
    }
}
