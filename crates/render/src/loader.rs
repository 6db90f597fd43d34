//! Reading files relative to a kustomization directory under kustomize's load restrictor: with
//! `RootOnly` (the default) a file must lie, after resolving symbolic links, inside the directory
//! of the kustomization that names it; `None` allows anything the filesystem serves.

use crate::fs::{self, EntryKind, FileSystem, FsError};

/// Kustomize's `--load-restrictor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestrictor {
    /// `LoadRestrictionsRootOnly`: files must be under the kustomization's root.
    #[default]
    RootOnly,
    /// `LoadRestrictionsNone`: files anywhere the filesystem serves.
    None,
}

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path climbs above the filesystem root.
    #[error("{path}: path climbs above the repository root")]
    AboveRoot {
        /// The path as written, joined to the directory it is relative to.
        path: String,
    },
    /// The load restrictor refused it.
    #[error(
        "security; file '{path}' is not in or below '{root}' (the load restrictor is \
         LoadRestrictionsRootOnly)"
    )]
    OutsideRoot {
        /// The file's real path.
        path: String,
        /// The kustomization root it had to be under.
        root: String,
    },
    /// The filesystem refused or failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Loads files for one kustomization root.
#[derive(Clone, Copy)]
pub struct Loader<'a> {
    fs: &'a dyn FileSystem,
    /// The kustomization directory paths are relative to.
    pub root: &'a str,
    /// The restrictor in force.
    pub restrictor: LoadRestrictor,
}

impl std::fmt::Debug for Loader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl<'a> Loader<'a> {
    /// A loader for the kustomization at `root`.
    pub fn new(fs: &'a dyn FileSystem, root: &'a str, restrictor: LoadRestrictor) -> Self {
        Self {
            fs,
            root,
            restrictor,
        }
    }

    /// The underlying filesystem.
    pub fn fs(&self) -> &'a dyn FileSystem {
        self.fs
    }

    /// `rel` resolved against the root (not yet checked by the restrictor).
    pub fn resolve(&self, rel: &str) -> Result<String, LoadError> {
        fs::join(self.root, rel).ok_or_else(|| LoadError::AboveRoot {
            path: format!("{}/{rel}", self.root),
        })
    }

    /// Checks `path` (already resolved) against the restrictor.
    pub fn check(&self, path: &str) -> Result<(), LoadError> {
        if self.restrictor == LoadRestrictor::None {
            return Ok(());
        }
        let real_root = self.fs.real_path(self.root)?;
        let real = self.fs.real_path(path)?;
        if fs::is_within(&real, &real_root) {
            Ok(())
        } else {
            Err(LoadError::OutsideRoot {
                path: real,
                root: real_root,
            })
        }
    }

    /// The bytes of the file `rel` (relative to the root), checked by the restrictor.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, LoadError> {
        let path = self.resolve(rel)?;
        self.check(&path)?;
        Ok(self.fs.read_file(&path)?)
    }

    /// The file `rel` as UTF-8 text (invalid sequences replaced).
    pub fn read_text(&self, rel: &str) -> Result<String, LoadError> {
        let bytes = self.read(rel)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// What `rel` is, without the restrictor check.
    pub fn kind(&self, rel: &str) -> Result<Option<EntryKind>, LoadError> {
        let path = self.resolve(rel)?;
        Ok(self.fs.kind(&path)?)
    }
}
