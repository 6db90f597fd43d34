//! Native kustomize-compatible renderer: turns a kustomization (or a plain directory of YAML)
//! into an ordered list of objects. Pure: reads files through a small filesystem trait only.
//!
//! Objects are `serde_json::Value`s throughout. [`render`] is the entry point; see
//! `docs/render.md` for what is supported and where Capstan differs from kustomize on purpose.

pub mod build;
pub mod config;
pub mod error;
pub mod fields;
pub mod fieldspec;
pub mod fs;
pub mod generators;
pub mod kustomization;
pub mod loader;
pub mod origin;
pub mod plain;
pub mod resmap;
pub mod resource;
pub mod scope;
pub mod smp;
pub mod transform;
pub mod yaml;

pub use build::{Options, Reorder};
pub use error::RenderError;
pub use fs::{DiskFs, EntryKind, FileSystem, FsError, MemFs};
pub use loader::{LoadError, LoadRestrictor, Loader};

use serde_json::Value;

use transform::sort::Order;

/// Renders the kustomization in `dir` (a normalized path in `fs`; `""` is the root) — or, when
/// nothing in `dir` is named like a kustomization file, every YAML and JSON file under it.
/// Several kustomization files in `dir`, or only a directory named like one, are an error.
pub fn render(
    fs: &dyn FileSystem,
    dir: &str,
    options: &Options,
) -> Result<Vec<Value>, RenderError> {
    let mut builder = build::Builder::new(fs, *options);
    let Some(found) = builder.find(dir)? else {
        return plain::render(fs, dir, options);
    };
    let order = match &found.kustomization.sort_options {
        Some(opts) => Order::from_sort_options(opts, &found.file)?,
        None => Order::from_flag(options.reorder),
    };
    let acc = builder.build_found(dir, &found)?;
    transform::finish::finish(acc, &order)
}

/// Renders like [`render`] and prints the YAML stream.
pub fn render_to_yaml(
    fs: &dyn FileSystem,
    dir: &str,
    options: &Options,
) -> Result<String, RenderError> {
    Ok(yaml::to_yaml_stream(&render(fs, dir, options)?))
}
