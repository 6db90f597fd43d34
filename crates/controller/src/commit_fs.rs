//! The renderer's [`FileSystem`] over one commit of the git cache: paths are relative to the
//! repository root, exactly as the renderer hands them over (normalized, `""` is the root), so
//! they pass through unchanged — as [`capstan_render::DiskFs`] joins them onto its root directory.
//! Symbolic links are resolved by [`GitTree`], inside the repository only; [`CommitFs::real_path`]
//! answers where a path really leads so the load restrictor confines each kustomization.
//!
//! A submodule reads as an empty directory, as in a checkout that does not fetch submodules: its
//! content is not in this repository.

use capstan_git::GitTree;
use capstan_render::{EntryKind, FileSystem, FsError};

/// One commit's files, for the renderer. Reads block: call the renderer from a blocking task.
#[derive(Debug)]
pub struct CommitFs {
    tree: GitTree,
}

impl CommitFs {
    /// Serves the files of `tree`.
    pub fn new(tree: GitTree) -> Self {
        Self { tree }
    }

    /// The commit served.
    pub fn commit(&self) -> &capstan_git::CommitInfo {
        self.tree.commit()
    }

    /// The commit's tree, for reads that want git's own errors.
    pub fn tree(&self) -> &GitTree {
        &self.tree
    }

    /// Whether `path` is a submodule (read as an empty directory).
    fn is_submodule(&self, path: &str) -> bool {
        matches!(
            self.tree.kind(path),
            Ok(Some(capstan_git::EntryKind::Submodule))
        )
    }

    /// The error for a failed read of `path`: not found when nothing is there, otherwise git's
    /// reason, naming the commit.
    fn failed(&self, path: &str, err: capstan_git::Error) -> FsError {
        match self.tree.kind(path) {
            Ok(None) => FsError::NotFound(path.to_owned()),
            _ => fs_error(path, err),
        }
    }
}

impl FileSystem for CommitFs {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, FsError> {
        let kind = self.tree.kind(path).map_err(|e| fs_error(path, e))?;
        Ok(kind.map(|kind| match kind {
            capstan_git::EntryKind::File => EntryKind::File,
            capstan_git::EntryKind::Dir | capstan_git::EntryKind::Submodule => EntryKind::Dir,
        }))
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
        self.tree.read_file(path).map_err(|e| self.failed(path, e))
    }

    fn read_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
        match self.tree.read_dir(path) {
            Ok(entries) => Ok(entries.into_iter().map(|(name, _)| name).collect()),
            Err(_) if self.is_submodule(path) => Ok(Vec::new()),
            Err(e) => Err(self.failed(path, e)),
        }
    }

    fn real_path(&self, path: &str) -> Result<String, FsError> {
        self.tree
            .resolve(path)
            .map_err(|e| fs_error(path, e))?
            .ok_or_else(|| FsError::NotFound(path.to_owned()))
    }
}

/// A git read error as the renderer's: the path as asked for, and git's reason with the commit
/// it was read at (any other failure — the local cache — is an I/O error, message kept whole).
fn fs_error(path: &str, err: capstan_git::Error) -> FsError {
    match err {
        capstan_git::Error::Read { commit, reason, .. } => FsError::Refused {
            path: path.to_owned(),
            reason: format!("{reason} (at commit {commit})"),
        },
        other => FsError::Io {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_read_error_names_the_path_asked_for_and_the_commit() {
        let err = fs_error(
            "overlay/leak.yaml",
            capstan_git::Error::Read {
                path: "overlay/leak.yaml".into(),
                commit: "0123abcd".into(),
                reason: "symbolic link overlay/leak.yaml -> /etc points outside the repository"
                    .into(),
            },
        );
        assert!(matches!(err, FsError::Refused { .. }));
        assert_eq!(
            err.to_string(),
            "overlay/leak.yaml: symbolic link overlay/leak.yaml -> /etc points outside the \
             repository (at commit 0123abcd)"
        );
    }

    #[test]
    fn a_cache_failure_is_an_io_error_naming_the_path() {
        let err = fs_error(
            "app/a.yaml",
            capstan_git::Error::Local {
                action: "find commit 0123".into(),
                message: "odb failure".into(),
            },
        );
        assert!(matches!(err, FsError::Io { .. }));
        assert_eq!(
            err.to_string(),
            "app/a.yaml: git cache: failed to find commit 0123: odb failure"
        );
    }
}
