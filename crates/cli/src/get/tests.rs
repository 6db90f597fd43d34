//! Pure tests of `capstan get`'s formatting, on the full example Application of
//! `crates/api/testdata/application.yaml`.

use capstan_api::Application;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::detail::detail;
use super::{human_duration, list_rows, short_revision, table};

fn example() -> Application {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../api/testdata/application.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the example exists");
    let mut app: Application = serde_saphyr::from_str(&text).expect("the example parses");
    app.metadata.creation_timestamp = Some(Time(ts("2026-01-02T03:00:00Z")));
    app
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

#[test]
fn the_list_shows_sync_health_short_revision_and_age_like_kubectl() {
    let rows = list_rows(&[example()], false, false, ts("2026-01-02T03:05:00Z"));
    assert_eq!(
        table(&rows, ""),
        "NAME   SYNC        HEALTH        REVISION   AGE\n\
         web    OutOfSync   Progressing   4f2c1e0    5m\n"
    );
}

#[test]
fn all_namespaces_adds_the_namespace_and_wide_adds_the_source_and_ready_condition() {
    let rows = list_rows(&[example()], true, true, ts("2026-01-02T03:05:00Z"));
    assert_eq!(
        rows[0],
        [
            "NAMESPACE",
            "NAME",
            "SYNC",
            "HEALTH",
            "REVISION",
            "AGE",
            "REPO",
            "PATH",
            "TARGET",
            "REASON",
            "MESSAGE"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "capstan",
            "web",
            "OutOfSync",
            "Progressing",
            "4f2c1e0",
            "5m",
            "https://git.example.com/org/manifests.git",
            "overlays/prod",
            "main",
            "Progressing",
            "syncing 4f2c1e0"
        ]
    );
}

#[test]
fn an_application_without_status_shows_none_rather_than_blank_cells() {
    let mut app = example();
    app.status = None;
    let rows = list_rows(&[app], false, false, ts("2026-01-02T03:00:30Z"));
    assert_eq!(rows[1], ["web", "<none>", "<none>", "<none>", "30s"]);
}

#[test]
fn the_detail_names_source_conditions_resources_operations_and_history() {
    let text = detail(&example(), ts("2026-01-02T03:05:00Z"));
    for wanted in [
        "Repository:   https://git.example.com/org/manifests.git",
        "Sync:         OutOfSync at 4f2c1e0 (web: raise replicas to 3)",
        "Health:       Progressing: Deployment web/web: 1 of 3 replicas updated",
        "Waiting for:  databases",
        "Pending sync: revision 4f2c1e0b5329cbe41edab0b7fde2d01d6aa00bcd, prune, dry run, \
         sync options ApplyOutOfSyncOnly=true, by jane@example.com",
        "  Ready         False    Progressing   55s   syncing 4f2c1e0",
        "  Reconciling   True     Progressing   55s   wave 0 of 2",
        "          ConfigMap    web         web-legacy     OutOfSync                 required",
        "  Phase:      Running",
        "  Retries:    1",
        "    apps    Deployment   web         web    Synced   Configured",
        "  7    89abcde    65m ago    jane@example.com",
        "  6    0123456    17h ago    automated",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(wanted.trim_end())),
            "{wanted:?} missing from\n{text}"
        );
    }
}

#[test]
fn ages_read_as_kubectl_writes_them() {
    for (seconds, wanted) in [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 120, "3h2m"),
        (10 * 3600, "10h"),
        (3 * 86400 + 3600, "3d1h"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400, "3y"),
    ] {
        assert_eq!(human_duration(seconds), wanted, "{seconds}s");
    }
}

#[test]
fn only_full_commit_names_are_shortened() {
    assert_eq!(
        short_revision("4f2c1e0b5329cbe41edab0b7fde2d01d6aa00bcd"),
        "4f2c1e0"
    );
    assert_eq!(short_revision("main"), "main");
    assert_eq!(short_revision("v1.2.3"), "v1.2.3");
}
