//! Plain directories (no kustomization file): every `*.yaml`, `*.yml` and `*.json` file under
//! the directory, recursively, in sorted path order — as Argo CD renders directory apps.

use serde_json::Value;

use crate::build::{self, Options};
use crate::error::RenderError;
use crate::fs::{self, EntryKind, FileSystem};
use crate::transform::sort::Order;

/// Directory levels followed below the top (bounds a hostile tree).
const MAX_DEPTH: usize = 32;

/// Renders every manifest file under `dir`.
pub fn render(
    fs: &dyn FileSystem,
    dir: &str,
    options: &Options,
) -> Result<Vec<Value>, RenderError> {
    let mut files = Vec::new();
    collect(fs, dir, 0, &mut files)?;
    let mut resources = Vec::new();
    for file in files {
        let bytes = fs
            .read_file(&file)
            .map_err(|e| build::load_err(&file, e.into()))?;
        let text = String::from_utf8_lossy(&bytes);
        resources.extend(build::read_resources(&text, &build::display(&file))?);
    }
    Order::from_flag(options.reorder).sort(&mut resources);
    Ok(resources.into_iter().map(|r| r.obj).collect())
}

fn collect(
    fs: &dyn FileSystem,
    dir: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), RenderError> {
    if depth > MAX_DEPTH {
        return Err(RenderError::Yaml {
            file: build::display(dir),
            message: format!("directories nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let names = fs
        .read_dir(dir)
        .map_err(|e| build::load_err(dir, e.into()))?;
    for name in names {
        if name.starts_with('.') {
            continue;
        }
        let path = fs::join(dir, &name).unwrap_or_default();
        match fs
            .kind(&path)
            .map_err(|e| build::load_err(&path, e.into()))?
        {
            // A directory named like a kustomization file is still a directory: skipping it
            // would drop what it holds without a word.
            Some(EntryKind::Dir) => collect(fs, &path, depth + 1, out)?,
            Some(EntryKind::File) if is_manifest(&name) => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

/// Whether a file named `name` is a manifest: YAML or JSON, and not a kustomization file.
fn is_manifest(name: &str) -> bool {
    (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        && !crate::kustomization::FILE_NAMES.contains(&name)
}
