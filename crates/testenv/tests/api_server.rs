//! Acceptance of the API-server tier: kube-rs against the real kube-apiserver and etcd started by
//! `capstan-testenv`, over verified TLS with token authentication and RBAC.

use anyhow::{Context, ensure};
use capstan_testenv::{Tier, run};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn deployment(name: &str) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "web", "image": "registry.example/web:1.0" }] },
            },
        },
    }))?)
}

#[tokio::test]
async fn configmap_create_get_patch_delete() -> anyhow::Result<()> {
    run(Tier::ApiServer, "configmap crud", |ctx| async move {
        let api = Api::<ConfigMap>::namespaced(ctx.client, &ctx.namespace);
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": { "name": "settings" },
            "data": { "colour": "blue" },
        }))?;
        api.create(&PostParams::default(), &cm)
            .await
            .context("create")?;

        let got = api.get("settings").await.context("get")?;
        ensure!(
            got.data
                .as_ref()
                .and_then(|d| d.get("colour"))
                .map(String::as_str)
                == Some("blue")
        );

        let patch = json!({ "data": { "colour": "green", "size": "L" } });
        api.patch("settings", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context("patch")?;
        let data = api.get("settings").await?.data.unwrap_or_default();
        ensure!(
            data.get("colour").map(String::as_str) == Some("green"),
            "patched data: {data:?}"
        );
        ensure!(
            data.get("size").map(String::as_str) == Some("L"),
            "patched data: {data:?}"
        );

        api.delete("settings", &DeleteParams::default())
            .await
            .context("delete")?;
        ensure!(
            api.get_opt("settings").await?.is_none(),
            "configmap still exists after delete"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn server_side_apply_and_dry_run_return_the_servers_defaults() -> anyhow::Result<()> {
    run(Tier::ApiServer, "ssa and dry run", |ctx| async move {
        let api = Api::<Deployment>::namespaced(ctx.client, &ctx.namespace);
        let applied = api
            .patch(
                "web",
                &PatchParams::apply("capstan").force(),
                &Patch::Apply(&deployment("web")?),
            )
            .await
            .context("server-side apply")?;
        let managers: Vec<_> = applied
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|f| f.manager.as_deref())
            .collect();
        ensure!(
            managers.contains(&"capstan"),
            "field managers after apply: {managers:?}"
        );

        let dry = api
            .patch(
                "preview",
                &PatchParams::apply("capstan").force().dry_run(),
                &Patch::Apply(&deployment("preview")?),
            )
            .await
            .context("server-side dry-run apply")?;
        let spec = dry.spec.context("dry-run result has no spec")?;
        let strategy = spec
            .strategy
            .context("dry-run result lacks the defaulted spec.strategy")?;
        ensure!(
            strategy.type_.as_deref() == Some("RollingUpdate"),
            "strategy: {strategy:?}"
        );
        ensure!(
            spec.progress_deadline_seconds == Some(600),
            "{:?}",
            spec.progress_deadline_seconds
        );
        ensure!(
            spec.revision_history_limit == Some(10),
            "{:?}",
            spec.revision_history_limit
        );
        let pod = spec.template.spec.context("template has no pod spec")?;
        ensure!(
            pod.restart_policy.as_deref() == Some("Always"),
            "{:?}",
            pod.restart_policy
        );
        ensure!(pod.containers[0].image_pull_policy.as_deref() == Some("IfNotPresent"));
        ensure!(
            api.get_opt("preview").await?.is_none(),
            "a dry-run apply must not persist the object"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_unprivileged_token_may_read_but_is_refused_a_write() -> anyhow::Result<()> {
    run(Tier::ApiServer, "rbac refuses", |ctx| async move {
        let reader = capstan_testenv::client_from(&ctx.unprivileged_kubeconfig).await?;
        let api = Api::<ConfigMap>::namespaced(reader, &ctx.namespace);
        api.list(&Default::default())
            .await
            .context("the read-only role allows listing")?;

        let cm: ConfigMap = serde_json::from_value(json!({ "metadata": { "name": "denied" } }))?;
        match api.create(&PostParams::default(), &cm).await {
            Err(kube::Error::Api(status)) => {
                ensure!(status.code == 403, "expected 403 Forbidden, got {status:?}");
                ensure!(
                    status.message.contains(capstan_testenv::UNPRIVILEGED_USER),
                    "refusal names another user: {}",
                    status.message
                );
            }
            Err(other) => anyhow::bail!("expected an RBAC refusal, got {other}"),
            Ok(_) => anyhow::bail!("the unprivileged token was allowed to create a ConfigMap"),
        }
        let admin = Api::<ConfigMap>::namespaced(ctx.client, &ctx.namespace);
        ensure!(
            admin.get_opt("denied").await?.is_none(),
            "the refused object exists"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_client_that_trusts_another_ca_is_refused_by_tls() -> anyhow::Result<()> {
    run(Tier::ApiServer, "tls is verified", |ctx| async move {
        let dir = ctx
            .admin_kubeconfig
            .parent()
            .context("kubeconfig has no directory")?;
        let stranger = dir.join(format!("{}-stranger-ca.crt", ctx.namespace));
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::write(&stranger, params.self_signed(&key)?.pem())?;
        let text = std::fs::read_to_string(&ctx.admin_kubeconfig)?;
        let original_ca = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("certificate-authority: "))
            .context("kubeconfig names no CA file")?;
        let kubeconfig = dir.join(format!("{}-stranger.kubeconfig", ctx.namespace));
        std::fs::write(
            &kubeconfig,
            text.replace(original_ca, &stranger.display().to_string()),
        )?;

        let client = capstan_testenv::client_from(&kubeconfig).await?;
        let result = Api::<ConfigMap>::namespaced(client, &ctx.namespace)
            .list(&Default::default())
            .await;
        let err = result
            .err()
            .context("a client trusting another CA was served")?;
        let chain = format!("{:?}", anyhow::Error::new(err));
        ensure!(
            chain.to_lowercase().contains("certificate"),
            "not a TLS verification error: {chain}"
        );
        Ok(())
    })
    .await
}
