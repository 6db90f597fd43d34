//! The generated files are fresh: the CRD files in `deploy/crds/` and `charts/capstan/crds/`
//! are exactly what `cargo xtask codegen` writes from the current API types.

use std::path::{Path, PathBuf};

/// The workspace root, read at run time (a test binary reused from a shared target directory
/// may have been built from another checkout).
fn root() -> PathBuf {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&manifest_dir).join("..")
}

#[test]
fn the_checked_in_crds_are_what_cargo_xtask_codegen_writes() {
    let generated = capstan_api::crd::application_crd_yaml().expect("the crd renders");
    for relative in [
        "deploy/crds/applications.capstan.dev.yaml",
        "charts/capstan/crds/applications.capstan.dev.yaml",
    ] {
        let checked_in = std::fs::read_to_string(root().join(relative)).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{relative} is missing or stale: run `cargo xtask codegen` and commit the result"
        );
    }
}
