//! Printing what kustomize printed gives back the same bytes: every `expected.yaml` of the
//! conformance corpus (kustomize's own output, vendored in `testdata/kustomize-conformance`, the
//! same corpus `conformance.rs` renders) is parsed and printed again. A missing or empty corpus
//! is a failure, not a skip: a test that passes without reading anything proves nothing.

use std::path::{Path, PathBuf};

use capstan_render::yaml::{parse_documents, to_yaml_stream};

/// Cases whose output cannot be reproduced, with the reason. Empty: all of them are.
const STRAGGLERS: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("testdata/kustomize-conformance/cases")
}

/// The `expected.yaml` of every case that has one (error cases have none), sorted. Panics when
/// the corpus cannot be read or holds none.
fn expected_files(corpus: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(corpus)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", corpus.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("corpus entry").path().join("expected.yaml"))
        .filter(|path| path.is_file())
        .collect();
    assert!(
        !files.is_empty(),
        "no expected.yaml in the corpus at {}",
        corpus.display()
    );
    files.sort();
    files
}

fn case_name(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn every_expected_output_of_the_corpus_prints_back_byte_for_byte() {
    let files = expected_files(&corpus());
    let mut failures = Vec::new();
    let mut identical = 0;
    for path in &files {
        let name = case_name(path);
        let text = std::fs::read_to_string(path).expect("read expected.yaml");
        let printed = match parse_documents(&text, &name) {
            Ok(documents) => to_yaml_stream(&documents),
            Err(error) => format!("error: {error}"),
        };
        let straggler = STRAGGLERS.iter().any(|(case, _)| *case == name);
        if printed == text {
            identical += 1;
            assert!(
                !straggler,
                "{name} is listed as a straggler but now prints identically"
            );
        } else if !straggler {
            failures.push(format!("--- {name}\n{}", first_difference(&text, &printed)));
        }
    }
    eprintln!(
        "{identical} of {} expected outputs print back byte for byte",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[should_panic(expected = "cannot read the corpus")]
fn a_missing_corpus_fails_the_round_trip_test_instead_of_skipping_it() {
    expected_files(&corpus().join("no-such-directory"));
}

#[test]
#[should_panic(expected = "no expected.yaml in the corpus")]
fn a_corpus_without_expected_outputs_fails_the_round_trip_test_instead_of_skipping_it() {
    // The folder above the cases (README.md, LICENSE, cases/) holds no case of its own.
    expected_files(corpus().parent().expect("the vendored folder"));
}

fn first_difference(want: &str, got: &str) -> String {
    let line = want
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
    let show = |text: &str| -> Vec<String> {
        let lines = text.lines().skip(line.saturating_sub(1)).take(3);
        lines.map(str::to_string).collect()
    };
    format!(
        "line {}:\n  want {:?}\n  got  {:?}",
        line + 1,
        show(want),
        show(got)
    )
}
