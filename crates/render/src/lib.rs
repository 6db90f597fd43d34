//! Native kustomize-compatible renderer: turns a kustomization (or a plain directory of YAML)
//! into an ordered list of objects. Pure: reads files through a small filesystem trait only.
//!
//! Objects are `serde_json::Value`s throughout; [`yaml`] parses and prints them the way
//! kustomize does.

pub mod fs;
pub mod loader;
pub mod yaml;

pub use fs::{DiskFs, EntryKind, FileSystem, FsError, MemFs};
pub use loader::{LoadError, LoadRestrictor, Loader};
