//! Conformance with kustomize v5.8.1 over the corpus in `testdata/kustomize-conformance` (a copy
//! of `../shared/conformance/kustomize`): 210 of kustomize's own test cases as data. A success
//! case passes when the rendered documents equal `expected.yaml` document by document after
//! parsing both; an error case passes when the render fails. Cases known to fail are listed with
//! their reason in `conformance-expected-failures.txt`; the test fails when any other case fails,
//! and when a listed case passes (so the list stays true). `CAPSTAN_CONFORMANCE_REPORT=1` prints
//! every case's outcome.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capstan_render::{DiskFs, LoadRestrictor, Options, Reorder, render, yaml};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("testdata/kustomize-conformance/cases")
}

fn expected_failures() -> BTreeMap<String, String> {
    common::read_expectations(
        &Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("tests/conformance-expected-failures.txt"),
    )
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Identical,
    Equal,
    Failed(String),
}

fn run_case(dir: &Path) -> Outcome {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let run_dir = meta["run_dir"].as_str().unwrap_or(".");
    let run_dir = if run_dir == "." { "" } else { run_dir };
    let options = Options {
        load_restrictor: match meta["options"]["load_restrictions"].as_str() {
            Some("LoadRestrictionsNone") => LoadRestrictor::None,
            _ => LoadRestrictor::RootOnly,
        },
        reorder: match meta["options"]["reorder"].as_str() {
            Some("legacy") => Reorder::Legacy,
            _ => Reorder::None,
        },
    };
    let fs = DiskFs::new(dir.join("input")).expect("input dir");
    let result = std::panic::catch_unwind(|| render(&fs, run_dir, &options));
    let Ok(result) = result else {
        return Outcome::Failed("panicked".into());
    };
    let expect_error = meta["expect_error"].as_bool().unwrap_or(false);
    match (result, expect_error) {
        (Err(_), true) => Outcome::Equal,
        (Ok(docs), true) => Outcome::Failed(format!(
            "expected an error, rendered {} objects",
            docs.len()
        )),
        (Err(e), false) => Outcome::Failed(format!("error: {e}")),
        (Ok(docs), false) => {
            let text = std::fs::read_to_string(dir.join("expected.yaml")).expect("expected.yaml");
            let want = yaml::parse_documents(&text, "expected.yaml").expect("expected parses");
            if docs == want {
                if yaml::to_yaml_stream(&docs) == text {
                    Outcome::Identical
                } else {
                    Outcome::Equal
                }
            } else {
                Outcome::Failed(first_difference(&docs, &want))
            }
        }
    }
}

fn first_difference(got: &[Value], want: &[Value]) -> String {
    if got.len() != want.len() {
        return format!("{} objects, expected {}", got.len(), want.len());
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            return format!("object {i} differs: got {g} want {w}");
        }
    }
    "differs".into()
}

#[test]
fn the_kustomize_conformance_corpus_renders_as_kustomize_does() {
    let expected = expected_failures();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    let report = std::env::var_os("CAPSTAN_CONFORMANCE_REPORT").is_some();
    let (mut identical, mut equal, mut failed) = (0, 0, 0);
    let mut problems = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let outcome = run_case(dir);
        if report {
            println!("{name}: {outcome:?}");
        }
        match (&outcome, expected.get(&name)) {
            (Outcome::Failed(why), None) => problems.push(format!("{name} fails: {why}")),
            (Outcome::Failed(_), Some(_)) => {}
            (_, Some(_)) => problems.push(format!(
                "{name} now passes: remove it from conformance-expected-failures.txt"
            )),
            _ => {}
        }
        match outcome {
            Outcome::Identical => identical += 1,
            Outcome::Equal => equal += 1,
            Outcome::Failed(_) => failed += 1,
        }
    }
    let total = cases.len();
    let passed = identical + equal;
    println!(
        "conformance: {passed}/{total} pass ({:.1}%), {identical} byte-identical, {failed} fail",
        100.0 * passed as f64 / total as f64
    );
    for name in expected.keys() {
        if !cases.iter().any(|c| c.ends_with(name)) {
            problems.push(format!("{name} is listed but is not in the corpus"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
