//! Acceptance of the workload tier: with kube-controller-manager, kube-scheduler and kwok running,
//! a Deployment really rolls out and its pods become Ready on the fake node.

use std::time::Duration;

use anyhow::{Context, ensure};
use capstan_testenv::{NODE_NAME, Tier, run};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::wait::{Condition, await_condition};
use serde_json::json;

/// True once the Deployment reports `Available=True` for its current generation with every
/// replica updated and available.
fn rolled_out(replicas: i32) -> impl Condition<Deployment> {
    move |d: Option<&Deployment>| {
        let Some(d) = d else { return false };
        let Some(status) = &d.status else {
            return false;
        };
        let available = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Available" && c.status == "True");
        available
            && status.observed_generation == d.metadata.generation
            && status.updated_replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
    }
}

fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn a_deployment_becomes_available_with_kwok_pods_ready() -> anyhow::Result<()> {
    run(Tier::Workloads, "deployment available", |ctx| async move {
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployment: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web" },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "web" } },
                    "spec": { "containers": [{ "name": "web", "image": "registry.example/web:1.0" }] },
                },
            },
        }))?;
        api.patch("web", &PatchParams::apply("capstan").force(), &Patch::Apply(&deployment))
            .await
            .context("apply the deployment")?;

        tokio::time::timeout(Duration::from_secs(120), await_condition(api.clone(), "web", rolled_out(3)))
            .await
            .context("the deployment did not become Available within 120 s")??;

        let pods = Api::<Pod>::namespaced(ctx.client, &ctx.namespace)
            .list(&ListParams::default().labels("app=web"))
            .await?;
        ensure!(pods.items.len() == 3, "expected 3 pods, found {}", pods.items.len());
        for pod in &pods.items {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
            ensure!(node == Some(NODE_NAME), "pod {name} is on node {node:?}");
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            ensure!(phase == Some("Running"), "pod {name} is in phase {phase:?}");
            ensure!(pod_is_ready(pod), "pod {name} is not Ready");
        }

        // Scaling down deletes pods, which kwok then removes in place of a kubelet.
        let scale = json!({ "spec": { "replicas": 1 } });
        api.patch("web", &PatchParams::default(), &Patch::Merge(&scale)).await?;
        tokio::time::timeout(Duration::from_secs(60), await_condition(api, "web", rolled_out(1)))
            .await
            .context("the deployment did not scale down within 60 s")??;
        Ok(())
    })
    .await
}
