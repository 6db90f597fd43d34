//! Tidy checks that keep the tree honest: every Rust file says what it is for, files stay small,
//! `docs/architecture.md` maps every crate, and the README and CI agree on the test command.

use std::path::{Path, PathBuf};

/// The workspace root, read at run time: a test binary reused from a shared target directory
/// may have been built from another checkout, whose path `env!` would have baked in.
fn root() -> PathBuf {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&manifest_dir).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
    {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "testdata" && !name.to_string_lossy().starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("xtask"), &mut files);
    assert!(files.len() > 10, "found too few Rust files: {files:?}");
    files
}

#[test]
fn every_rust_file_opens_with_a_doc_comment_saying_what_it_is_for() {
    let missing: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line: {missing:?}"
    );
}

#[test]
fn rust_files_stay_under_800_lines() {
    let long: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .count()
                > 800
        })
        .collect();
    assert!(long.is_empty(), "split these by responsibility: {long:?}");
}

#[test]
fn architecture_doc_maps_every_crate() {
    let doc =
        std::fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    let mut crates: Vec<String> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .collect();
    crates.push("xtask".to_owned());
    let unmapped: Vec<_> = crates
        .iter()
        .filter(|c| !doc.contains(&format!("`{c}`")))
        .collect();
    assert!(
        unmapped.is_empty(),
        "docs/architecture.md has no code-map entry for {unmapped:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    for command in ["cargo xtask test", "cargo xtask demo"] {
        assert!(
            readme.contains(command),
            "README.md does not give `{command}`"
        );
    }
    assert!(
        ci.contains("cargo xtask test"),
        ".ci/run does not run `cargo xtask test`"
    );
}

#[test]
fn only_the_git_crate_relaxes_the_ban_on_unsafe_code() {
    for entry in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        let manifest =
            std::fs::read_to_string(entry.path().join("Cargo.toml")).expect("Cargo.toml");
        let uses_workspace_lints = manifest.contains("[lints]\nworkspace = true");
        if entry.file_name() == "git" {
            assert!(
                manifest.contains("unsafe_code = \"deny\""),
                "crates/git must still deny unsafe code"
            );
        } else {
            assert!(
                uses_workspace_lints,
                "{:?} must use the workspace lints (unsafe_code = forbid)",
                entry.path()
            );
        }
    }
    let unsafe_files: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .contains(concat!("#[allow(", "unsafe_code)]"))
        })
        .collect();
    assert_eq!(
        unsafe_files,
        [root().join("crates/git/src/timeouts.rs")],
        "unexpected unsafe code"
    );
}

/// Regression: a merge left conflict markers in `docs/architecture.md` and nothing noticed.
#[test]
fn no_file_of_the_docs_or_code_keeps_merge_conflict_markers() {
    let mut files = all_rust_files();
    files.push(root().join("README.md"));
    for entry in std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
    {
        files.push(entry.path());
    }
    let marked: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let line = text.lines().position(|l| {
                l.starts_with("<<<<<<< ") || l.starts_with(">>>>>>> ") || l == "======="
            })?;
            Some(format!("{}:{}", path.display(), line + 1))
        })
        .collect();
    assert!(marked.is_empty(), "merge conflict markers: {marked:?}");
}
