//! Acceptance of the test mutating webhook against the real kube-apiserver: workloads written in
//! a labelled namespace come back with their CPU requests raised and an annotation added (also
//! for server-side dry-runs), other namespaces are untouched, and `stop` removes the
//! registration.

use anyhow::{Context, ensure};
use capstan_testenv::webhook::{ADJUSTMENT_ANNOTATION, ADJUSTMENT_VALUE, MutatingWebhook};
use capstan_testenv::{TestContext, Tier, run};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The label key tests select their namespace by; the value is the namespace's own name.
const LABEL: &str = "capstan.test/webhook";

/// Labels the test's namespace (when `label_namespace`) and starts a webhook selecting it, with
/// a floor of 250m.
async fn start(ctx: &TestContext, label_namespace: bool) -> anyhow::Result<MutatingWebhook> {
    if label_namespace {
        let patch = json!({ "metadata": { "labels": { LABEL: ctx.namespace } } });
        Api::<Namespace>::all(ctx.client.clone())
            .patch(
                &ctx.namespace,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .context("labelling the test namespace")?;
    }
    let name = format!("cpu-floor-{}", ctx.namespace);
    MutatingWebhook::start(&ctx.client, &name, (LABEL, &ctx.namespace), 250)
        .await
        .context("starting the webhook")
}

fn deployment(name: &str, resources: Option<Value>) -> anyhow::Result<Deployment> {
    let mut container = json!({ "name": "web", "image": "registry.example/web:1.0" });
    if let Some(resources) = resources {
        container["resources"] = resources;
    }
    let labels = json!({ "app": name });
    let pod = json!({ "metadata": { "labels": labels }, "spec": { "containers": [container] } });
    let spec = json!({ "selector": { "matchLabels": labels }, "template": pod });
    Ok(serde_json::from_value(
        json!({ "metadata": { "name": name }, "spec": spec }),
    )?)
}

/// The CPU request of the first container, as the apiserver returned it.
fn cpu_request(deployment: &Deployment) -> Option<String> {
    let spec = deployment.spec.as_ref()?.template.spec.as_ref()?;
    let requests = spec
        .containers
        .first()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?;
    Some(requests.get("cpu")?.0.clone())
}

/// Checks the first container's CPU request and whether the webhook's annotation is present.
fn check(deployment: &Deployment, cpu: Option<&str>, adjusted: bool) -> anyhow::Result<()> {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let got = cpu_request(deployment);
    ensure!(
        got.as_deref() == cpu,
        "{name}: cpu request {got:?}, expected {cpu:?}"
    );
    let annotations = deployment.metadata.annotations.clone().unwrap_or_default();
    let value = annotations.get(ADJUSTMENT_ANNOTATION).map(String::as_str);
    ensure!(
        (value == Some(ADJUSTMENT_VALUE)) == adjusted,
        "{name}: annotations {annotations:?}, expected adjusted: {adjusted}"
    );
    Ok(())
}

#[tokio::test]
async fn created_deployments_get_the_cpu_floor_and_the_annotation() -> anyhow::Result<()> {
    run(Tier::ApiServer, "webhook create", |ctx| async move {
        let webhook = start(&ctx, true).await?;
        ensure!(webhook.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let served_before = webhook.requests_served();
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace);
        let cases = [
            ("low", Some(json!({ "requests": { "cpu": "10m" } })), "250m"),
            ("high", Some(json!({ "requests": { "cpu": "1" } })), "1"),
            (
                "exact",
                Some(json!({ "requests": { "cpu": "0.25" } })),
                "250m",
            ),
            ("bare", None, "250m"),
            (
                "memory-only",
                Some(json!({ "requests": { "memory": "64Mi" } })),
                "250m",
            ),
        ];
        let count = cases.len();
        for (name, resources, expected) in cases {
            let created = api
                .create(&PostParams::default(), &deployment(name, resources)?)
                .await
                .with_context(|| format!("creating deployment {name}"))?;
            let stored = api.get(name).await?;
            check(&created, Some(expected), true)?;
            check(&stored, Some(expected), true)?;
        }
        ensure!(webhook.requests_served() >= served_before + count);
        ensure!(
            webhook.errors() == 0,
            "{} malformed reviews",
            webhook.errors()
        );
        webhook.stop(&ctx.client).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn updates_that_lower_the_request_are_raised_again() -> anyhow::Result<()> {
    run(Tier::ApiServer, "webhook update", |ctx| async move {
        let webhook = start(&ctx, true).await?;
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace);
        api.create(&PostParams::default(), &deployment("web", None)?)
            .await?;
        let patch = json!({ "spec": { "template": { "spec": { "containers": [
            { "name": "web", "resources": { "requests": { "cpu": "5m" } } },
        ] } } } });
        let updated = api
            .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .context("patching the cpu request down")?;
        check(&updated, Some("250m"), true)?;
        webhook.stop(&ctx.client).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn server_side_apply_dry_run_is_mutated_too() -> anyhow::Result<()> {
    run(Tier::ApiServer, "webhook ssa dry run", |ctx| async move {
        let webhook = start(&ctx, true).await?;
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace);
        let desired = deployment("web", Some(json!({ "requests": { "cpu": "10m" } })))?;
        let params = PatchParams::apply("capstan").force().dry_run();
        let applied = api
            .patch("web", &params, &Patch::Apply(&desired))
            .await
            .context("server-side apply dry run")?;
        check(&applied, Some("250m"), true)?;
        ensure!(
            api.get_opt("web").await?.is_none(),
            "the dry run persisted the deployment"
        );
        webhook.stop(&ctx.client).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn deployments_in_unlabelled_namespaces_are_untouched() -> anyhow::Result<()> {
    run(Tier::ApiServer, "webhook unlabelled", |ctx| async move {
        let webhook = start(&ctx, false).await?;
        let served_before = webhook.requests_served();
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace);
        let resources = json!({ "requests": { "cpu": "10m" } });
        let created = api
            .create(&PostParams::default(), &deployment("web", Some(resources))?)
            .await?;
        check(&created, Some("10m"), false)?;
        ensure!(
            webhook.requests_served() == served_before,
            "the webhook was called"
        );
        webhook.stop(&ctx.client).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn stop_removes_the_configuration_and_the_mutation() -> anyhow::Result<()> {
    run(Tier::ApiServer, "webhook stop", |ctx| async move {
        let webhook = start(&ctx, true).await?;
        let name = webhook.name().to_owned();
        let configurations = Api::<MutatingWebhookConfiguration>::all(ctx.client.clone());
        let registered = configurations
            .get(&name)
            .await
            .context("reading the configuration")?;
        let hook = registered.webhooks.unwrap_or_default().into_iter().next();
        let url = hook.and_then(|hook| hook.client_config.url);
        ensure!(
            url.as_deref() == Some(webhook.url()),
            "registered url {url:?}"
        );

        webhook
            .stop(&ctx.client)
            .await
            .context("stopping the webhook")?;
        ensure!(
            configurations.get_opt(&name).await?.is_none(),
            "configuration {name} remains"
        );
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace);
        let created = api
            .create(&PostParams::default(), &deployment("web", None)?)
            .await
            .context("creating a deployment after stop")?;
        check(&created, None, false)?;
        Ok(())
    })
    .await
}
