//! Checks the name hash against the kustomize conformance corpus (`testdata/kustomize-conformance`):
//! every hashed ConfigMap or Secret in any case's `expected.yaml` carries the suffix `name_hash`
//! computes from its final content. (Whole renders are checked by `conformance.rs`.)

use std::path::{Path, PathBuf};

use capstan_render::generators::name_hash;
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    Some(
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("testdata/kustomize-conformance/cases"),
    )
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("corpus cases")
        .map(|e| e.expect("corpus case").path())
        .collect();
    out.sort();
    out
}

fn expected_docs(case: &Path) -> Option<Vec<Value>> {
    let text = std::fs::read_to_string(case.join("expected.yaml")).ok()?;
    Some(serde_saphyr::from_multiple::<Value>(&text).expect("expected.yaml parses"))
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The hash-looking suffix of a name: 10 characters of kustomize's hash alphabet after a `-`.
fn hash_suffix(name: &str) -> Option<&str> {
    let (_, suffix) = name.rsplit_once('-')?;
    let alphabet = |c: char| c.is_ascii_digit() || c.is_ascii_lowercase();
    (suffix.len() == 10 && suffix.chars().all(alphabet)).then_some(suffix)
}

/// Corpus objects whose name ends like a hash but that kustomize did not hash, and why.
const NOT_HASHED: &[(&str, &str)] = &[(
    "diamonds__TestBasicDiamond: ConfigMap prod-t-federation",
    "a plain ConfigMap whose name happens to end in ten letters",
)];

#[test]
fn every_hashed_config_map_and_secret_in_the_corpus_carries_the_hash_of_its_content() {
    let Some(root) = corpus() else { return };
    let (mut checked, mut wrong) = (0, Vec::new());
    for case in cases(&root) {
        let case_name = case.file_name().unwrap().to_string_lossy().into_owned();
        for doc in expected_docs(&case).unwrap_or_default() {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let Some(suffix) = hash_suffix(name_of(&doc)) else {
                continue;
            };
            if !matches!(kind, "ConfigMap" | "Secret") {
                continue;
            }
            let id = format!("{case_name}: {kind} {}", name_of(&doc));
            if NOT_HASHED.iter().any(|(n, _)| id == *n) {
                continue;
            }
            checked += 1;
            let got = name_hash(&doc).unwrap();
            if got != suffix {
                wrong.push(format!("{id}: computed {got}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked >= 76, "only {checked} hashed objects found");
}
