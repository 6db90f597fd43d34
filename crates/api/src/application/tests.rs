//! Tests of the Application's stored form: the full example round-trips, the compact forms of
//! resources and inventory, sync requests resolved against the spec, and the size of a
//! 5,000-object status.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use super::*;
use crate::{
    AppliedFingerprints, HealthStatus, InventoryEntry, Operation, OperationPhase, OperationState,
    Reason, ResourceResult, ResultStatus, SyncResult, SyncStatus,
};

const EXAMPLE: &str = include_str!("../../testdata/application.yaml");

fn example_json() -> Value {
    serde_saphyr::from_str(EXAMPLE).expect("the example parses as YAML")
}

#[test]
fn the_full_example_reads_and_writes_back_unchanged() {
    let stored = example_json();
    let app: Application = serde_json::from_value(stored.clone()).expect("an Application");
    assert_eq!(app.spec.source.target_revision(), "main");
    assert_eq!(app.spec.refresh_interval(), Ok(Duration::from_secs(180)));
    let status = app.status.as_ref().expect("status");
    assert_eq!(
        status
            .condition(ConditionType::Reconciling)
            .map(|c| c.reason),
        Some(Reason::Progressing)
    );
    assert_eq!(status.resources.len(), 3);
    assert_eq!(status.inventory.len(), 4);
    let deployment = &status.inventory[3];
    assert_eq!(
        (deployment.kind.as_str(), deployment.name.as_str()),
        ("Deployment", "web")
    );
    let applied = deployment.applied.as_ref().expect("fingerprints");
    assert_eq!(applied.desired.len(), 64);
    assert!(status.inventory[0].applied.is_none());
    assert_eq!(
        app.operation
            .as_ref()
            .and_then(|o| o.sync.as_ref())
            .map(|s| s.dry_run),
        Some(true)
    );
    assert_eq!(serde_json::to_value(&app).expect("serializes"), stored);
}

#[test]
fn a_minimal_application_takes_the_defaults() {
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": "capstan"},
        "spec": {"source": {"repoURL": "https://git.example.com/m.git"}, "destination": {}},
    }))
    .expect("an Application");
    assert_eq!(app.spec.source.target_revision(), "HEAD");
    assert_eq!(app.spec.refresh_interval(), Ok(DEFAULT_REFRESH_INTERVAL));
    assert!(!app.spec.suspend && app.spec.sync_policy.is_none());
    assert!(app.status.is_none() && app.operation.is_none());
    let backoff = Backoff {
        duration: None,
        factor: None,
        max_duration: Some("1m30s".into()),
    };
    assert_eq!(backoff.duration(), Ok(Backoff::DEFAULT_DURATION));
    assert_eq!(backoff.max_duration(), Ok(Duration::from_secs(90)));
    let written = serde_json::to_value(&app).expect("serializes");
    assert_eq!(written["apiVersion"], "capstan.dev/v1alpha1");
    assert_eq!(written["kind"], "Application");
    assert!(written.get("status").is_none() && written.get("operation").is_none());
}

#[test]
fn the_resource_trait_names_the_custom_resource() {
    use kube_core::Resource;
    assert_eq!(Application::api_version(&()), "capstan.dev/v1alpha1");
    assert_eq!(Application::plural(&()), "applications");
    assert_eq!(
        Application::url_path(&(), Some("capstan")),
        "/apis/capstan.dev/v1alpha1/namespaces/capstan/applications"
    );
}

#[test]
fn a_sync_request_takes_what_it_leaves_unset_from_the_spec() {
    let spec_options = [
        "CreateNamespace=true".to_owned(),
        "PruneLast=true".to_owned(),
    ];
    let request = SyncOperation {
        revision: None,
        prune: None,
        dry_run: true,
        sync_options: vec!["PruneLast=false".into(), "ApplyOutOfSyncOnly=true".into()],
    };
    assert_eq!(
        request.resolve("main", true, &spec_options),
        Operation {
            revision: "main".into(),
            prune: true,
            dry_run: true,
            sync_options: vec![
                "CreateNamespace=true".into(),
                "PruneLast=false".into(),
                "ApplyOutOfSyncOnly=true".into()
            ],
        }
    );
    let pinned = SyncOperation {
        revision: Some("v1.2.3".into()),
        prune: Some(false),
        ..SyncOperation::default()
    };
    let resolved = pinned.resolve("main", true, &[]);
    assert_eq!(
        (resolved.revision.as_str(), resolved.prune),
        ("v1.2.3", false)
    );
}

#[test]
fn initiated_by_is_a_user_or_the_controller() {
    let user = InitiatedBy {
        username: "jane@example.com".into(),
        automated: false,
    };
    assert_eq!(
        serde_json::to_value(&user).expect("serializes"),
        json!({"username": "jane@example.com"})
    );
    let controller: InitiatedBy =
        serde_json::from_value(json!({"automated": true})).expect("reads");
    assert!(controller.automated && controller.username.is_empty());
}

#[test]
fn malformed_stored_inventories_are_refused() {
    let status = |inventory: Value| {
        serde_json::from_value::<ApplicationStatus>(json!({ "inventory": inventory }))
            .map_err(|e| e.to_string())
    };
    let mismatched = status(json!([{"version": "v1", "kind": "ConfigMap",
        "names": ["a", "b"], "applied": [""]}]));
    assert!(
        mismatched
            .expect_err("mismatch")
            .contains("2 names but 1 fingerprints")
    );
    let unpacked = status(json!([{"version": "v1", "kind": "ConfigMap",
        "names": ["a"], "applied": ["abc"]}]));
    assert!(
        unpacked
            .expect_err("not packed")
            .contains("<desired>.<live>")
    );
}

fn hex_digest(seed: usize) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(seed.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 5,000 objects of ten kinds in five team namespaces, named as teams name them
/// (`payments-api-deployment-017`): each in the inventory with fingerprints (Secrets without,
/// as Capstan never fingerprints them) and in the resources, with health where the kind has it,
/// and an operation state with a per-object result for the 50 that changed.
fn large_status() -> ApplicationStatus {
    const KINDS: [(&str, &str, &str, bool); 10] = [
        ("apps", "v1", "Deployment", true),
        ("", "v1", "Service", true),
        ("", "v1", "ConfigMap", false),
        ("", "v1", "Secret", false),
        ("", "v1", "ServiceAccount", false),
        ("networking.k8s.io", "v1", "Ingress", true),
        ("autoscaling", "v2", "HorizontalPodAutoscaler", true),
        ("policy", "v1", "PodDisruptionBudget", true),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding", false),
        ("monitoring.coreos.com", "v1", "ServiceMonitor", false),
    ];
    const TEAMS: [&str; 5] = [
        "payments-api",
        "checkout-worker",
        "search-indexer",
        "identity-gateway",
        "platform-metrics",
    ];
    let mut status = ApplicationStatus::default();
    for i in 0..5_000 {
        let (group, version, kind, has_health) = KINDS[i % KINDS.len()];
        let team = TEAMS[i / 1_000];
        let namespace = format!("team-{}", team.split('-').next().unwrap_or(team));
        let name = format!("{team}-{}-{:03}", kind.to_lowercase(), i % 100);
        let applied = (kind != "Secret").then(|| AppliedFingerprints {
            desired: hex_digest(2 * i),
            live: hex_digest(2 * i + 1),
        });
        status.inventory.push(InventoryEntry {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: namespace.clone(),
            name: name.clone(),
            applied,
        });
        status.resources.push(ResourceStatus {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace,
            name,
            status: SyncStatus::Synced,
            health: has_health.then_some(HealthStatus::Healthy),
            requires_pruning: false,
        });
    }
    let time = Time("2026-01-02T03:04:05Z".parse().expect("a timestamp"));
    status.operation_state = Some(OperationState {
        operation: Operation::default(),
        phase: OperationPhase::Succeeded,
        reason: None,
        message: String::new(),
        started_at: time.clone(),
        finished_at: Some(time),
        wave: Some(0),
        step: Some(8),
        retry_count: 0,
        initiated_by: None,
        sync_result: Some(SyncResult {
            revision: hex_digest(1).chars().take(40).collect(),
            resources: status.inventory[..50]
                .iter()
                .map(|object| ResourceResult {
                    object: InventoryEntry {
                        applied: None,
                        ..object.clone()
                    },
                    status: ResultStatus::Synced,
                    action: Some(crate::ResourceAction::Configured),
                    reason: None,
                    message: String::new(),
                    hook_phase: None,
                })
                .collect(),
        }),
    });
    status
}

#[test]
fn a_status_of_5000_objects_with_fingerprints_stays_under_1_mib() {
    let status = large_status();
    let stored = serde_json::to_vec(&status).expect("serializes");
    let flat_inventory = serde_json::to_vec(&status.inventory).expect("serializes");
    eprintln!(
        "status of 5,000 objects: {} bytes stored (the inventory alone, flat with hex \
         fingerprints: {} bytes)",
        stored.len(),
        flat_inventory.len()
    );
    assert!(stored.len() < 1024 * 1024, "{} bytes", stored.len());
    let back: ApplicationStatus = serde_json::from_slice(&stored).expect("reads back");
    assert_eq!(back.inventory.len(), 5_000);
    assert_eq!(back.resources.len(), 5_000);
    let sorted = |mut entries: Vec<InventoryEntry>| {
        entries.sort();
        entries
    };
    assert_eq!(sorted(back.inventory), sorted(status.inventory));
}

#[test]
fn stored_forms_group_by_group_version_kind_and_namespace() {
    let entry = |kind: &str, name: &str, applied: Option<AppliedFingerprints>| InventoryEntry {
        group: String::new(),
        version: "v1".into(),
        kind: kind.into(),
        namespace: "web".into(),
        name: name.into(),
        applied,
    };
    let fingerprints = AppliedFingerprints {
        desired: "00ff".into(),
        live: "10".into(),
    };
    let status = ApplicationStatus {
        inventory: vec![
            entry("Service", "web", None),
            entry("ConfigMap", "b", Some(fingerprints.clone())),
            entry("ConfigMap", "a", None),
        ],
        ..ApplicationStatus::default()
    };
    let stored = serde_json::to_value(&status).expect("serializes");
    assert_eq!(
        stored,
        json!({"inventory": [
            {"version": "v1", "kind": "ConfigMap", "namespace": "web", "names": ["b", "a"],
             "applied": ["AP8.EA", ""]},
            {"version": "v1", "kind": "Service", "namespace": "web", "names": ["web"]},
        ]})
    );
    let back: ApplicationStatus = serde_json::from_value(stored).expect("reads back");
    assert_eq!(back.inventory[0].applied, Some(fingerprints));
    assert_eq!(back.inventory[2].name, "web");
}
