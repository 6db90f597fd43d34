//! Checks the architecture invariants of `docs/architecture.md` over `cargo metadata`:
//! dependencies between workspace crates point one way, the pure crates never reach tokio, kube's
//! client, git2, hyper or axum, and only binary and test crates pick a Kubernetes version.

use std::collections::{BTreeMap, BTreeSet};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};

fn metadata() -> Metadata {
    MetadataCommand::new()
        // Read at run time: a test binary reused from a shared target directory may have been
        // built from another checkout, whose path `env!` would have baked in.
        .manifest_path(
            std::path::Path::new(
                &std::env::var("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
            )
            .join("../Cargo.toml"),
        )
        .exec()
        .expect("cargo metadata")
}

/// Normal (non-dev, non-build) dependency names of every package in the resolved graph.
fn normal_deps(meta: &Metadata) -> BTreeMap<PackageId, Vec<PackageId>> {
    let resolve = meta.resolve.as_ref().expect("resolved graph");
    resolve
        .nodes
        .iter()
        .map(|node| {
            let deps = node
                .deps
                .iter()
                .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal))
                .map(|d| d.pkg.clone())
                .collect();
            (node.id.clone(), deps)
        })
        .collect()
}

fn name_of(meta: &Metadata, id: &PackageId) -> String {
    meta[id].name.to_string()
}

/// Every package reachable from `root` through normal dependencies.
fn closure(meta: &Metadata, root: &PackageId) -> BTreeSet<String> {
    let graph = normal_deps(meta);
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(id) = stack.pop() {
        for dep in graph.get(&id).into_iter().flatten() {
            if seen.insert(name_of(meta, dep)) {
                stack.push(dep.clone());
            }
        }
    }
    seen
}

fn workspace_package(meta: &Metadata, name: &str) -> PackageId {
    meta.workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == name)
        .unwrap_or_else(|| panic!("workspace package {name} not found"))
        .id
        .clone()
}

/// Which workspace crates each library crate may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("capstan-api", &[]),
    ("capstan-render", &[]),
    ("capstan-core", &["capstan-api"]),
    ("capstan-git", &["capstan-api", "capstan-core"]),
    ("capstan-cluster", &["capstan-api", "capstan-core"]),
    ("capstan-registry", &["capstan-api", "capstan-core"]),
    (
        "capstan-controller",
        &[
            "capstan-api",
            "capstan-render",
            "capstan-core",
            "capstan-git",
            "capstan-cluster",
            "capstan-registry",
        ],
    ),
    (
        "capstan-server",
        &[
            "capstan-api",
            "capstan-render",
            "capstan-core",
            "capstan-git",
            "capstan-cluster",
            "capstan-registry",
            "capstan-controller",
        ],
    ),
];

#[test]
fn workspace_dependencies_point_one_way() {
    let meta = metadata();
    let workspace: BTreeSet<String> = meta
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    for (krate, allowed) in ALLOWED {
        let direct: BTreeSet<String> = meta[&workspace_package(&meta, krate)]
            .dependencies
            .iter()
            .filter(|d| d.kind == DependencyKind::Normal && workspace.contains(d.name.as_str()))
            .map(|d| d.name.clone())
            .collect();
        let forbidden: Vec<_> = direct
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            forbidden.is_empty(),
            "{krate} must not depend on {forbidden:?}"
        );
    }
}

#[test]
fn no_shipped_crate_depends_on_the_test_environment_or_xtask() {
    let meta = metadata();
    for package in meta.workspace_packages() {
        if package.name.as_str() == "xtask" {
            continue;
        }
        let deps = closure(&meta, &package.id);
        for dev_only in ["capstan-testenv", "xtask"] {
            assert!(
                package.name.as_str() == dev_only || !deps.contains(dev_only),
                "{} depends on the dev-only crate {dev_only}",
                package.name
            );
        }
    }
}

#[test]
fn pure_crates_never_reach_io_runtimes_or_clients() {
    let meta = metadata();
    for krate in ["capstan-api", "capstan-render", "capstan-core"] {
        let deps = closure(&meta, &workspace_package(&meta, krate));
        for io in ["tokio", "kube-client", "git2", "hyper", "axum"] {
            assert!(
                !deps.contains(io),
                "{krate} must stay pure but depends on {io}"
            );
        }
    }
}

#[test]
fn only_binary_and_test_crates_choose_a_kubernetes_version() {
    let meta = metadata();
    for package in meta.workspace_packages() {
        let is_library = package.targets.iter().all(|t| !t.is_bin())
            && package.name.as_str() != "capstan-testenv";
        for dep in &package.dependencies {
            let picks_version =
                dep.name == "k8s-openapi" && dep.features.iter().any(|f| f.starts_with("v1_"));
            assert!(
                !(picks_version && is_library && dep.kind == DependencyKind::Normal),
                "library crate {} enables a Kubernetes version feature of k8s-openapi",
                package.name
            );
        }
    }
}
