//! Health rules, data-driven: every `testdata/health/<kind>/<case>.yaml` is a live object whose
//! first line is `# expect: <Status>[: <message substring>]`. Also checks `worst`, and that
//! `assess` survives any field of any fixture being replaced by a value of the wrong type.

use std::fs;
use std::path::{Path, PathBuf};

use capstan_api::HealthStatus;
use capstan_core::health::{assess, worst};
use serde_json::{Value, json};

/// Every kind directory the rules need fixtures for.
const KINDS: [&str; 16] = [
    "apiservice",
    "crd",
    "cronjob",
    "daemonset",
    "deployment",
    "hpa",
    "ingress",
    "job",
    "kstatus",
    "malformed",
    "pod",
    "pvc",
    "replicaset",
    "service",
    "statefulset",
    "terminating",
];

struct Case {
    name: String,
    object: Value,
    status: HealthStatus,
    message: Option<String>,
}

fn root() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("testdata/health")
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    entries
}

fn parse_expectation(line: &str, name: &str) -> (HealthStatus, Option<String>) {
    let rest = line
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{name}: first line must be `# expect: <Status>[: <text>]`"));
    let (status, message) = match rest.split_once(": ") {
        Some((status, message)) => (status, Some(message.to_string())),
        None => (rest, None),
    };
    let status = HealthStatus::parse(status.trim())
        .unwrap_or_else(|| panic!("{name}: unknown status {status:?}"));
    (status, message)
}

fn load_case(path: &Path) -> Case {
    let name = path
        .strip_prefix(root())
        .expect("fixture under root")
        .display()
        .to_string();
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {name}: {e}"));
    let first = text.lines().next().unwrap_or_default();
    let (status, message) = parse_expectation(first, &name);
    let object = serde_saphyr::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("{name}: invalid YAML: {e}"));
    Case {
        name,
        object,
        status,
        message,
    }
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in sorted_entries(&root()) {
        let fixtures: Vec<PathBuf> = sorted_entries(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        assert!(
            !fixtures.is_empty(),
            "kind directory {} has no fixture",
            dir.display()
        );
        cases.extend(fixtures.iter().map(|p| load_case(p)));
    }
    cases
}

#[test]
fn every_kind_directory_exists_and_has_fixtures() {
    let dirs: Vec<String> = sorted_entries(&root())
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for kind in KINDS {
        assert!(
            dirs.iter().any(|d| d == kind),
            "no fixture directory for {kind}"
        );
    }
    assert!(all_cases().len() >= 60, "expected at least 60 fixtures");
}

#[test]
fn every_fixture_gets_its_expected_status_and_message() {
    let mut failures = Vec::new();
    for case in all_cases() {
        let health = assess(&case.object);
        let message_ok = case
            .message
            .as_deref()
            .is_none_or(|m| health.message.contains(m));
        if health.status != case.status || !message_ok {
            failures.push(format!(
                "{}: expected {} {:?}, got {} {:?}",
                case.name, case.status, case.message, health.status, health.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn messages_start_lowercase() {
    for case in all_cases() {
        let message = assess(&case.object).message;
        let first = message.chars().next();
        assert!(
            first.is_none_or(|c| !c.is_uppercase()),
            "{}: message starts uppercase: {message:?}",
            case.name
        );
    }
}

/// Values of every JSON type, including integers at the edges of `i64`.
fn wrong_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(-1),
        json!(2.5),
        json!("text"),
        json!([]),
        json!(["text", 1]),
        json!({}),
        json!({"type": 1}),
    ]
}

/// The JSON pointers of every node in `value`.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{prefix}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(prefix);
}

#[test]
fn assess_never_panics_when_any_field_of_any_fixture_has_the_wrong_type() {
    for case in all_cases() {
        let mut paths = Vec::new();
        pointers(&case.object, String::new(), &mut paths);
        for path in paths {
            for wrong in wrong_values() {
                let mut object = case.object.clone();
                if let Some(slot) = object.pointer_mut(&path) {
                    *slot = wrong;
                }
                let _ = assess(&object);
            }
        }
    }
}

#[test]
fn a_field_of_the_wrong_type_is_unknown_and_named_in_the_message() {
    let object = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"replicas": "three"},
        "status": {}
    });
    let health = assess(&object);
    assert_eq!(health.status, HealthStatus::Unknown);
    assert!(
        health
            .message
            .contains("spec.replicas is not a non-negative integer"),
        "{}",
        health.message
    );
}

#[test]
fn assess_never_reports_missing() {
    for case in all_cases() {
        assert_ne!(
            assess(&case.object).status,
            HealthStatus::Missing,
            "{}",
            case.name
        );
    }
}

#[test]
fn worst_of_nothing_is_healthy() {
    assert_eq!(worst([]), HealthStatus::Healthy);
}

#[test]
fn worst_follows_argo_cd_severity_order() {
    use HealthStatus::*;
    let cases: [(&[HealthStatus], HealthStatus); 8] = [
        (&[Healthy], Healthy),
        (&[Healthy, Suspended], Suspended),
        (&[Suspended, Progressing, Healthy], Progressing),
        (&[Progressing, Missing], Missing),
        (&[Missing, Degraded, Progressing], Degraded),
        (&[Degraded, Unknown], Unknown),
        (&[Unknown, Healthy], Unknown),
        (&[Healthy, Healthy, Healthy], Healthy),
    ];
    for (statuses, expected) in cases {
        assert_eq!(
            worst(statuses.iter().copied()),
            expected,
            "worst of {statuses:?}"
        );
    }
}

#[test]
fn worst_accepts_any_iterator_such_as_the_assessed_objects_of_an_application() {
    let objects = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}}),
    ];
    assert_eq!(
        worst(objects.iter().map(|o| assess(o).status)),
        HealthStatus::Progressing
    );
}
