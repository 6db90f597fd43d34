//! The filesystem the renderer reads through. Paths are `/`-separated and relative to the
//! filesystem's root (`""` is the root itself), already normalized: no `.`, `..` or empty parts.
//! Implementations resolve symbolic links themselves and refuse any that leave their root;
//! [`FileSystem::real_path`] exposes the resolution so the load restrictor can check where a path
//! really lands. `capstan-git`'s commit trees, [`DiskFs`] and [`MemFs`] implement it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest file the renderer reads; manifests are small and this bounds a hostile repository.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// Nothing at that path.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// The path exists but may not be read (a link out of the root, too large, a loop, ...).
    #[error("{path}: {reason}")]
    Refused {
        /// The path as asked for.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// The underlying storage failed.
    #[error("{path}: {message}")]
    Io {
        /// The path as asked for.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Read-only access to a tree of files.
///
/// Every method is required: [`FileSystem::real_path`] in particular has no default, because
/// one returning the path unchanged would let a symbolic link carry a file past the load
/// restrictor. An implementation says where its paths really land:
///
/// ```
/// use capstan_render::{EntryKind, FileSystem, FsError};
///
/// struct Empty;
///
/// impl FileSystem for Empty {
///     fn kind(&self, _: &str) -> Result<Option<EntryKind>, FsError> {
///         Ok(None)
///     }
///     fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
///         Err(FsError::NotFound(path.to_string()))
///     }
///     fn read_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
///         Err(FsError::NotFound(path.to_string()))
///     }
///     fn real_path(&self, path: &str) -> Result<String, FsError> {
///         Ok(path.to_string()) // no links in an empty tree
///     }
/// }
/// ```
///
/// and the same implementation without `real_path` does not compile (E0046, a missing trait
/// item) — the regression guard for the default that once weakened the load restrictor:
///
/// ```compile_fail,E0046
/// use capstan_render::{EntryKind, FileSystem, FsError};
///
/// struct Empty;
///
/// impl FileSystem for Empty {
///     fn kind(&self, _: &str) -> Result<Option<EntryKind>, FsError> {
///         Ok(None)
///     }
///     fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
///         Err(FsError::NotFound(path.to_string()))
///     }
///     fn read_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
///         Err(FsError::NotFound(path.to_string()))
///     }
/// }
/// ```
pub trait FileSystem {
    /// What `path` is after following links; `None` when nothing is there.
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, FsError>;
    /// The bytes of the file at `path`.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError>;
    /// The names of the entries of the directory at `path`, sorted.
    fn read_dir(&self, path: &str) -> Result<Vec<String>, FsError>;
    /// `path` with every symbolic link resolved (normalized, relative to the root). The load
    /// restrictor compares these, so an implementation must answer where `path` really lands.
    fn real_path(&self, path: &str) -> Result<String, FsError>;
}

/// Joins `rel` (which may contain `.` and `..`, or be absolute from the root) onto the
/// directory `base`, normalizing the result. `None` when it climbs above the root.
pub fn join(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Whether `path` is `dir` or lies under it.
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Files in memory: for tests, benchmarks and fuzzing. Links are stored as `path -> target`.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
}

const MAX_LINK_HOPS: usize = 40;

impl MemFs {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file (its parent directories exist implicitly).
    pub fn file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.insert(path, content);
        self
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: &str, content: impl Into<Vec<u8>>) {
        let path = join("", path).unwrap_or_default();
        self.files.insert(path, content.into());
    }

    /// Adds a symbolic link at `path` pointing at `target` (relative to the link's directory,
    /// or absolute from the root).
    pub fn link(mut self, path: &str, target: &str) -> Self {
        self.links
            .insert(join("", path).unwrap_or_default(), target.to_string());
        self
    }

    fn resolve(&self, path: &str) -> Result<String, FsError> {
        let refused = |reason: &str| FsError::Refused {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let mut hops = 0;
        let mut done = String::new();
        let mut rest: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        rest.reverse();
        while let Some(part) = rest.pop() {
            let candidate = join(&done, &part).ok_or_else(|| refused("climbs above the root"))?;
            if let Some(target) = self.links.get(&candidate) {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(refused("too many levels of symbolic links"));
                }
                let resolved = join(&done, target)
                    .ok_or_else(|| refused("symbolic link points outside the root"))?;
                let mut parts: Vec<String> = resolved
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect();
                parts.reverse();
                done.clear();
                rest.extend(parts);
            } else {
                done = candidate;
            }
        }
        Ok(done)
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty()
            || self
                .files
                .keys()
                .chain(self.links.keys())
                .any(|f| is_within(f, path) && f != path)
    }
}

impl FileSystem for MemFs {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, FsError> {
        let real = self.resolve(path)?;
        if self.files.contains_key(&real) {
            Ok(Some(EntryKind::File))
        } else if self.is_dir(&real) {
            Ok(Some(EntryKind::Dir))
        } else {
            Ok(None)
        }
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let real = self.resolve(path)?;
        self.files
            .get(&real)
            .cloned()
            .ok_or_else(|| FsError::NotFound(path.to_string()))
    }

    fn read_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
        let real = self.resolve(path)?;
        if !self.is_dir(&real) {
            return Err(FsError::NotFound(path.to_string()));
        }
        let mut names: Vec<String> = self
            .files
            .keys()
            .chain(self.links.keys())
            .filter(|f| is_within(f, &real) && *f != &real)
            .filter_map(|f| {
                let rest = if real.is_empty() {
                    f.as_str()
                } else {
                    &f[real.len() + 1..]
                };
                rest.split('/').next().map(String::from)
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn real_path(&self, path: &str) -> Result<String, FsError> {
        self.resolve(path)
    }
}

/// A directory on disk, confined to its root: a path whose real location (after links) is
/// outside the root is refused.
#[derive(Debug, Clone)]
pub struct DiskFs {
    root: PathBuf,
}

impl DiskFs {
    /// Serves the files under `root`.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, FsError> {
        let root = root.as_ref();
        let root =
            std::fs::canonicalize(root).map_err(|e| io_error(&root.display().to_string(), &e))?;
        Ok(Self { root })
    }

    fn locate(&self, path: &str) -> Result<Option<PathBuf>, FsError> {
        let joined = self.root.join(path);
        match std::fs::canonicalize(&joined) {
            Ok(real) if real.starts_with(&self.root) => Ok(Some(real)),
            Ok(_) => Err(FsError::Refused {
                path: path.to_string(),
                reason: "symbolic link points outside the root".to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, &e)),
        }
    }
}

fn io_error(path: &str, e: &std::io::Error) -> FsError {
    FsError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

impl FileSystem for DiskFs {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, FsError> {
        let Some(real) = self.locate(path)? else {
            return Ok(None);
        };
        let meta = std::fs::metadata(&real).map_err(|e| io_error(path, &e))?;
        Ok(Some(if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        }))
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let real = self
            .locate(path)?
            .ok_or_else(|| FsError::NotFound(path.to_string()))?;
        let meta = std::fs::metadata(&real).map_err(|e| io_error(path, &e))?;
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(FsError::Refused {
                path: path.to_string(),
                reason: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        std::fs::read(&real).map_err(|e| io_error(path, &e))
    }

    fn read_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
        let real = self
            .locate(path)?
            .ok_or_else(|| FsError::NotFound(path.to_string()))?;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&real).map_err(|e| io_error(path, &e))? {
            let entry = entry.map_err(|e| io_error(path, &e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn real_path(&self, path: &str) -> Result<String, FsError> {
        let real = self
            .locate(path)?
            .ok_or_else(|| FsError::NotFound(path.to_string()))?;
        let rel = real.strip_prefix(&self.root).unwrap_or(&real);
        Ok(rel.to_string_lossy().replace('\\', "/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalizes_and_refuses_to_climb_above_the_root() {
        assert_eq!(join("a/b", "../c/./d").as_deref(), Some("a/c/d"));
        assert_eq!(join("a", "/x").as_deref(), Some("x"));
        assert_eq!(join("a", "../../x"), None);
        assert!(is_within("a/b", "a") && !is_within("ab", "a") && is_within("x", ""));
    }

    #[test]
    fn mem_fs_lists_follows_links_and_refuses_escapes() {
        let fs = MemFs::new()
            .file("base/k.yaml", "x")
            .file("base/sub/y.yaml", "y")
            .link("overlay/base", "../base")
            .link("overlay/out", "../../etc")
            .link("loop/a", "b")
            .link("loop/b", "a");
        assert_eq!(fs.read_dir("base").unwrap(), vec!["k.yaml", "sub"]);
        assert_eq!(fs.read_file("overlay/base/k.yaml").unwrap(), b"x");
        assert_eq!(fs.real_path("overlay/base/sub").unwrap(), "base/sub");
        assert_eq!(fs.kind("overlay/base").unwrap(), Some(EntryKind::Dir));
        assert!(matches!(
            fs.kind("overlay/out"),
            Err(FsError::Refused { .. })
        ));
        assert!(matches!(fs.kind("loop/a"), Err(FsError::Refused { .. })));
        assert_eq!(fs.kind("nothing").unwrap(), None);
    }
}
