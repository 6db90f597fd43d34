//! Printing what kustomize printed gives back the same bytes: every `expected.yaml` of the
//! conformance corpus (kustomize's own output) is parsed and printed again.

use std::path::{Path, PathBuf};

use capstan_render::yaml::{parse_documents, to_yaml_stream};

const CORPUS: &str = "/work/shared/conformance/kustomize/cases";

/// Cases whose output cannot be reproduced, with the reason. Empty: all of them are.
const STRAGGLERS: &[(&str, &str)] = &[];

fn expected_files() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(CORPUS) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("expected.yaml"))
        .filter(|path| path.is_file())
        .collect();
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
    let files = expected_files();
    if files.is_empty() {
        eprintln!("conformance corpus not found at {CORPUS}; skipping");
        return;
    }
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
