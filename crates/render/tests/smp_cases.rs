//! Data-driven strategic-merge cases: each directory under `testdata/smp/` holds `target.yaml`
//! and `patch.yaml`, and either `expected.yaml` (what `kubectl kustomize` 1.37.1 printed for that
//! target and patch; empty when the patch deletes the object) or `error.txt` (a substring of the
//! expected error). `openapi.json` makes the case use that custom schema alone, as a
//! kustomization's `openapi: {path: ...}` does; `openapi-plus-builtin.json` uses it together
//! with the built-in schema.

use std::path::{Path, PathBuf};

use capstan_render::smp::{Schema, merge};
use serde_json::Value;

fn cases_dir() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("testdata/smp")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A YAML document as a `Value` (`None` for an empty document).
fn yaml(path: &Path) -> Option<Value> {
    let text = read(path);
    if text.trim().is_empty() {
        return None;
    }
    // YAML 1.2 booleans only (`y` is a string), as kustomize reads YAML.
    let options = serde_saphyr::options! { strict_booleans: true };
    let value: Value = serde_saphyr::from_str_with_options(&text, options)
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    Some(value)
}

fn schema_for(dir: &Path) -> Schema {
    let custom = dir.join("openapi.json");
    let with_builtin = dir.join("openapi-plus-builtin.json");
    if custom.exists() {
        let doc: Value = serde_json::from_str(&read(&custom)).expect("custom schema is json");
        Schema::from_openapi(&doc).expect("custom schema loads")
    } else if with_builtin.exists() {
        let doc: Value = serde_json::from_str(&read(&with_builtin)).expect("custom schema is json");
        let custom = Schema::from_openapi(&doc).expect("custom schema loads");
        custom.with_builtin().expect("built-in schema loads")
    } else {
        Schema::builtin().expect("built-in schema loads").clone()
    }
}

/// Runs one case; `Err` describes the mismatch.
fn run_case(dir: &Path) -> Result<(), String> {
    let target = yaml(&dir.join("target.yaml")).ok_or("empty target")?;
    let patch = yaml(&dir.join("patch.yaml")).ok_or("empty patch")?;
    let schema = schema_for(dir);
    let got = merge(&target, &patch, &schema);
    let error_file = dir.join("error.txt");
    if error_file.exists() {
        let wanted = read(&error_file).trim().to_string();
        return match got {
            Err(e) if e.to_string().contains(&wanted) => Ok(()),
            Err(e) => Err(format!("error {e:?} lacks {wanted:?}")),
            Ok(v) => Err(format!(
                "expected an error containing {wanted:?}, got {v:?}"
            )),
        };
    }
    let expected = yaml(&dir.join("expected.yaml"));
    match got {
        Ok(got) if got == expected => Ok(()),
        Ok(got) => Err(format!(
            "got:\n{}\nexpected:\n{}",
            serde_json::to_string_pretty(&got).unwrap_or_default(),
            serde_json::to_string_pretty(&expected).unwrap_or_default()
        )),
        Err(e) => Err(format!("unexpected error: {e}")),
    }
}

#[test]
fn every_strategic_merge_case_gives_what_kustomize_gives() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("testdata/smp exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 30,
        "expected the case corpus, found {}",
        dirs.len()
    );
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|dir| {
            run_case(dir).err().map(|why| {
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                format!("--- {name}\n{why}")
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
