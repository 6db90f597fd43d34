//! `cargo xtask codegen`: writes the generated files checked into the repository — the
//! Application CRD, to `deploy/crds/` and `charts/capstan/crds/` (the same text in both).
//! `xtask/tests/codegen_fresh.rs` fails when they are stale.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where the CRD files go, relative to the workspace root.
pub const CRD_PATHS: [&str; 2] = [
    "deploy/crds/applications.capstan.dev.yaml",
    "charts/capstan/crds/applications.capstan.dev.yaml",
];

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes every generated file.
pub fn run() -> anyhow::Result<()> {
    let text = capstan_api::crd::application_crd_yaml().context("render the application crd")?;
    for relative in CRD_PATHS {
        let path = root().join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(&path, &text).with_context(|| format!("write {}", path.display()))?;
        eprintln!("xtask: wrote {relative}");
    }
    Ok(())
}
