//! The fence, against the real API server: a write made under a closed fence is refused before
//! it is sent (the audit log has no request for it), while reads still go out; under an open
//! fence, and outside any, writes go through. This is what keeps a replica that lost its Lease
//! (or was frozen past its renew deadline) from writing.
//!
//! Regression: the fence was first looked at in the service's `call`, which kube's client makes
//! from the worker task of its request buffer, where no fence is ever set — every write went
//! through (`a_write_under_a_closed_fence_is_never_sent_and_reads_still_are` failed).

use std::time::{Duration, SystemTime};

use capstan_cluster::fence::{Fence, Fenced, client, fenced};
use capstan_testenv::{TestContext, Tier, run};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

fn config_map(name: &str) -> anyhow::Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
    )?)
}

/// Capstan's client for the test, with the fence layer.
async fn fenced_api(ctx: &TestContext) -> anyhow::Result<Api<ConfigMap>> {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&ctx.capstan_kubeconfig)?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(Api::namespaced(client(config)?, &ctx.namespace))
}

/// The creates of ConfigMap `name` by Capstan's user in the audit log.
fn creates(ctx: &TestContext, name: &str) -> anyhow::Result<usize> {
    let audit = ctx.audit()?.by_user(&ctx.capstan_user);
    Ok(audit.count(|e| {
        e.verb == "create" && e.object_ref.as_ref().and_then(|o| o.name.as_deref()) == Some(name)
    }))
}

#[tokio::test]
async fn a_write_under_a_closed_fence_is_never_sent_and_reads_still_are() -> anyhow::Result<()> {
    run(Tier::ApiServer, "fence-closed", |ctx| async move {
        let api = fenced_api(&ctx).await?;
        let fence = Fence::open();
        fence.open_until(SystemTime::now() - Duration::from_secs(1));
        let (created, listed) = fenced(fence, async {
            let created = api
                .create(&PostParams::default(), &config_map("late")?)
                .await;
            anyhow::Ok((created, api.list(&Default::default()).await))
        })
        .await?;
        let refused = created.expect_err("a write past the deadline");
        let chain = format!("{:?}", anyhow::Error::new(refused));
        assert!(chain.contains(&Fenced.to_string()), "{chain}");
        assert!(listed.is_ok(), "reads are not fenced: {listed:?}");
        assert_eq!(
            creates(&ctx, "late")?,
            0,
            "the refused write reached the server"
        );
        assert!(api.get_opt("late").await?.is_none());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_write_under_an_open_fence_or_none_goes_through() -> anyhow::Result<()> {
    run(Tier::ApiServer, "fence-open", |ctx| async move {
        let api = fenced_api(&ctx).await?;
        let fence = Fence::closed();
        fence.open_until(SystemTime::now() + Duration::from_secs(60));
        fenced(
            fence,
            api.create(&PostParams::default(), &config_map("inside")?),
        )
        .await?;
        api.create(&PostParams::default(), &config_map("outside")?)
            .await?;
        assert_eq!(creates(&ctx, "inside")?, 1);
        assert_eq!(creates(&ctx, "outside")?, 1);
        Ok(())
    })
    .await
}
