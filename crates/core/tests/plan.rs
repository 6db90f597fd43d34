//! Data-driven tests of the sync plan: each case lists objects as `Kind/name[@wave][!options]`
//! (`=` marks an object already in sync, `~` one in sync and known unchanged since its last
//! apply, `-` an object leaving the desired set) and the plan printed one wave per line.

#![allow(clippy::unwrap_used)] // test helpers: a malformed case should fail loudly

use capstan_core::diff::DiffState;
use capstan_core::object::ObjectKey;
use capstan_core::options::SyncOptions;
use capstan_core::plan::{Desired, Leaving, Plan, plan};

fn key(kind: &str, name: &str) -> ObjectKey {
    let group = match kind {
        "Deployment" | "StatefulSet" => "apps",
        "CustomResourceDefinition" => "apiextensions.k8s.io",
        "Role" | "RoleBinding" | "ClusterRole" => "rbac.authorization.k8s.io",
        "ValidatingWebhookConfiguration" => "admissionregistration.k8s.io",
        "Widget" => "example.com",
        _ => "",
    };
    ObjectKey {
        group: group.into(),
        kind: kind.into(),
        namespace: "ns".into(),
        name: name.into(),
    }
}

/// Parses `[-|=]Kind/name[@wave][!Opt=v,…]`.
fn object(spec: &str, app: SyncOptions) -> (bool, Desired) {
    let (leaving, spec) = spec.strip_prefix('-').map_or((false, spec), |s| (true, s));
    let (known_unchanged, spec) = spec.strip_prefix('~').map_or((false, spec), |s| (true, s));
    let (in_sync, spec) = spec
        .strip_prefix('=')
        .map_or((known_unchanged, spec), |s| (true, s));
    let (spec, options) = spec.split_once('!').unwrap_or((spec, ""));
    let (spec, wave) = spec.split_once('@').unwrap_or((spec, "0"));
    let (kind, name) = spec.split_once('/').unwrap();
    let desired = Desired {
        key: key(kind, name),
        wave: wave.parse().unwrap(),
        options: app.with(options.split(','), spec).unwrap(),
        state: if in_sync {
            DiffState::Unchanged
        } else {
            DiffState::Modified
        },
        known_unchanged,
    };
    (leaving, desired)
}

fn show(plan: &Plan, desired: &[Desired], leaving: &[Leaving]) -> String {
    let name = |k: &ObjectKey| format!("{}/{}", k.kind, k.name);
    let mut out = Vec::new();
    for wave in &plan.waves {
        let steps: Vec<String> = wave
            .apply
            .iter()
            .map(|step| {
                let names: Vec<String> = step.iter().map(|&i| name(&desired[i].key)).collect();
                format!("[{}]", names.join(" "))
            })
            .collect();
        let prune: Vec<String> = wave.prune.iter().map(|&i| name(&leaving[i].key)).collect();
        let mut line = format!("{}: {}", wave.wave, steps.join(" "));
        let held: Vec<String> = wave.held.iter().map(|&i| name(&desired[i].key)).collect();
        if !held.is_empty() {
            line.push_str(&format!(" held {}", held.join(" ")));
        }
        if !prune.is_empty() {
            line.push_str(&format!(" prune {}", prune.join(" ")));
        }
        out.push(line.trim_end().to_owned());
    }
    let list = |items: &[usize], from_leaving: bool| -> String {
        let names: Vec<String> = items
            .iter()
            .map(|&i| {
                name(if from_leaving {
                    &leaving[i].key
                } else {
                    &desired[i].key
                })
            })
            .collect();
        names.join(" ")
    };
    for (label, items, from_leaving) in [
        ("last", &plan.prune_last, true),
        ("kept", &plan.prune_skipped, true),
        ("skipped", &plan.skipped, false),
    ] {
        if !items.is_empty() {
            out.push(format!("{label}: {}", list(items, from_leaving)));
        }
    }
    out.join("\n")
}

fn check(app_options: &[&str], objects: &str, expected: &str) {
    let app = SyncOptions::parse(app_options.iter().copied(), "app").unwrap();
    let (mut desired, mut leaving) = (Vec::new(), Vec::new());
    for spec in objects.split_whitespace() {
        match object(spec, app) {
            (false, d) => desired.push(d),
            (true, d) => leaving.push(Leaving {
                key: d.key,
                wave: d.wave,
                options: d.options,
            }),
        }
    }
    let got = show(&plan(&desired, &leaving), &desired, &leaving);
    assert_eq!(got, expected.trim(), "objects: {objects}");
}

#[test]
fn kinds_are_applied_in_dependency_order_then_by_name() {
    check(
        &[],
        "Deployment/web ValidatingWebhookConfiguration/guard ConfigMap/b Widget/w Service/web \
         ConfigMap/a CustomResourceDefinition/widgets Namespace/ns RoleBinding/rb Role/r \
         ServiceAccount/sa Secret/a0",
        "0: [Namespace/ns] [CustomResourceDefinition/widgets] [ServiceAccount/sa] [Role/r] \
         [RoleBinding/rb] [ConfigMap/a Secret/a0 ConfigMap/b] [Service/web] [Deployment/web] \
         [Widget/w] [ValidatingWebhookConfiguration/guard]",
    );
}

#[test]
fn waves_come_first_and_negative_waves_run_before_the_default() {
    check(
        &[],
        "ConfigMap/late@5 Namespace/ns@1 Deployment/web ConfigMap/early@-1",
        "-1: [ConfigMap/early]\n0: [Deployment/web]\n1: [Namespace/ns]\n5: [ConfigMap/late]",
    );
}

#[test]
fn prunes_run_in_their_wave_in_reverse_order() {
    check(
        &[],
        "Deployment/web -ConfigMap/a -Namespace/old -ConfigMap/b -Deployment/gone@2",
        "0: [Deployment/web] prune ConfigMap/b ConfigMap/a Namespace/old\n2:  prune Deployment/gone",
    );
}

#[test]
fn prune_last_moves_prunes_after_every_wave_highest_wave_first() {
    check(
        &["PruneLast=true"],
        "Deployment/web@3 -ConfigMap/a -Deployment/gone@2 -Service/s@2",
        "3: [Deployment/web]\nlast: Deployment/gone Service/s ConfigMap/a",
    );
    check(
        &[],
        "Deployment/web -ConfigMap/a!PruneLast=true -ConfigMap/b",
        "0: [Deployment/web] prune ConfigMap/b\nlast: ConfigMap/a",
    );
}

#[test]
fn prune_false_keeps_an_object_and_reports_it() {
    check(
        &[],
        "-ConfigMap/keep!Prune=false -ConfigMap/drop",
        "0:  prune ConfigMap/drop\nkept: ConfigMap/keep",
    );
}

#[test]
fn apply_out_of_sync_only_skips_objects_in_sync() {
    check(
        &["ApplyOutOfSyncOnly=true"],
        "=ConfigMap/same ConfigMap/changed =Deployment/web!ApplyOutOfSyncOnly=false",
        "0: [ConfigMap/changed] [Deployment/web] held ConfigMap/same\nskipped: ConfigMap/same",
    );
    check(&[], "=ConfigMap/same", "0: [ConfigMap/same]");
}

/// Regression: a wave whose objects were all known unchanged vanished from the plan, so a sync
/// resumed after a restart went on to the next wave without waiting on its health.
#[test]
fn a_wave_of_unchanged_objects_stays_in_the_plan_so_its_health_is_still_awaited() {
    check(
        &[],
        "~Deployment/db ConfigMap/after@1 ~ConfigMap/same@1",
        "0:  held Deployment/db\n1: [ConfigMap/after] held ConfigMap/same\n\
         skipped: Deployment/db ConfigMap/same",
    );
}
