//! The read rules of the shared caches, against the real API server and counted in its audit
//! log for Capstan's own user: an application is served from the watch cache only its own
//! objects, and only while their projections show them as last applied; anything else is read
//! with a GET — another application's object, an object whose ownership label was removed by
//! hand, an object changed by another writer — and only a GET's "not found" makes an object
//! missing.
//! The shared discovery catalog finds a kind served after it was made by refreshing on a miss,
//! and refreshes at most once per interval for a kind no one serves.

use std::time::Duration;

use capstan_cluster::live_cache::LiveCache;
use capstan_cluster::{Catalog, SharedCatalog, SyncRequest, prepare, sync};
use capstan_core::inventory::Inventory;
use capstan_core::options::SyncOptions;
use capstan_core::tracking::AppId;
use capstan_testenv::audit::AuditEvent;
use capstan_testenv::{TestContext, Tier, run};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

/// Applies one ConfigMap `name` for `app` with Capstan's client; returns the inventory.
async fn apply(ctx: &TestContext, app: &AppId, name: &str) -> anyhow::Result<Inventory> {
    let capstan = ctx.capstan_client().await?;
    let mut catalog = Catalog::discover(&capstan).await?;
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"a": "1"}});
    let options = SyncOptions::default();
    let prepared = prepare(vec![object], &catalog, &ctx.namespace, app, options)?;
    let request = SyncRequest::new(app, &ctx.namespace);
    let (outcome, inventory) = sync(
        &capstan,
        &mut catalog,
        prepared,
        &Inventory::default(),
        &request,
    )
    .await?;
    anyhow::ensure!(outcome.succeeded(), "{outcome:?}");
    Ok(inventory)
}

#[tokio::test]
async fn the_cache_serves_only_the_owner_and_a_miss_is_read_before_it_counts_as_gone()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "live-reads", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (a, b) = (
            AppId::parse(&format!("{ns}/a"))?,
            AppId::parse(&format!("{ns}/b"))?,
        );
        let inventory = apply(&ctx, &a, "owned-by-a").await?;
        let capstan = ctx.capstan_client().await?;
        let catalog = Catalog::discover(&capstan).await?;
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "owned-by-a"}, "data": {"a": "1"}});
        let prepare_for = |app: &AppId| {
            let options = SyncOptions::default();
            prepare(vec![object.clone()], &catalog, &ns, app, options)
        };
        let (wanted, wanted_by_b) = (prepare_for(&a)?, prepare_for(&b)?);
        let cache = LiveCache::new(capstan.clone());
        let observe = |app, wanted| cache.observe(app, wanted, &inventory, &[], 4);
        // Start-up: the ConfigMap watch lists once.
        observe(&a, &wanted).await?;

        let gets = |mark| -> anyhow::Result<(usize, String)> {
            let audit = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
            Ok((audit.count(AuditEvent::is_get), audit.to_string()))
        };
        let mark = ctx.audit()?.mark();
        let seen = observe(&a, &wanted).await?;
        assert_eq!((seen.settled.len(), seen.len()), (1, 1));
        assert_eq!(
            gets(mark)?.0,
            0,
            "the owner is served from the cache: {}",
            gets(mark)?.1
        );

        let mark = ctx.audit()?.mark();
        let seen_by_b = observe(&b, &wanted_by_b).await?;
        assert_eq!(
            seen_by_b.len(),
            1,
            "another application still sees the object (by a GET)"
        );
        assert_eq!(
            gets(mark)?.0,
            1,
            "another application is not served from the cache: {}",
            gets(mark)?.1
        );

        // The ownership label is removed by hand: the object leaves the watch, but is not gone.
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = |body: serde_json::Value| {
            let maps = maps.clone();
            async move {
                let params = PatchParams::default();
                maps.patch("owned-by-a", &params, &Patch::Merge(&body))
                    .await
            }
        };
        patch(json!({"metadata": {"labels": {"capstan.dev/app": null}}})).await?;
        for _ in 0..100 {
            let mark = ctx.audit()?.mark();
            let seen = observe(&a, &wanted).await?;
            assert_eq!(
                seen.len(),
                1,
                "an object without the label was reported missing"
            );
            if gets(mark)?.0 == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mark = ctx.audit()?.mark();
        assert_eq!(observe(&a, &wanted).await?.whole.len(), 1);
        assert_eq!(gets(mark)?.0, 1, "the unlabelled object is read with a GET");

        // Labelled again and changed by another writer: served by the watch, but its
        // projection no longer shows it as applied, so it is read whole.
        // Taken before the patch: the watch may see it before the patch returns.
        let version = cache.version(&a);
        patch(json!({"metadata": {"labels": {"capstan.dev/app": "a"}}, "data": {"a": "edited"}}))
            .await?;
        for _ in 0..100 {
            if cache.version(&a) != version {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_ne!(cache.version(&a), version, "the watch never saw the edit");
        let mark = ctx.audit()?.mark();
        let seen = observe(&a, &wanted).await?;
        assert_eq!((seen.settled.len(), seen.whole.len()), (0, 1));
        assert_eq!(
            seen.whole.values().next().map(|o| o["data"]["a"].clone()),
            Some(json!("edited"))
        );
        assert_eq!(gets(mark)?.0, 1, "the edited object is read with a GET");

        maps.delete("owned-by-a", &DeleteParams::default()).await?;
        assert!(
            observe(&a, &wanted).await?.is_empty(),
            "a deleted object is missing"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_shared_catalog_refreshes_on_a_miss_at_most_once_per_interval() -> anyhow::Result<()> {
    run(Tier::ApiServer, "shared-catalog", |ctx| async move {
        let group = format!("{}.catalog.capstan.dev", ctx.namespace);
        // Both made before the CRD exists: one may refresh on every miss, one once an hour.
        let eager = SharedCatalog::discover(&ctx.client, Duration::ZERO).await?;
        let patient = SharedCatalog::discover(&ctx.client, Duration::from_secs(3600)).await?;
        let crds = capstan_testenv::crd_api(&ctx.client);
        let crd = capstan_testenv::open_crd(&group, "v1", "Dial", "dials");
        crds.patch(
            &format!("dials.{group}"),
            &PatchParams::apply("test-setup"),
            &Patch::Apply(&crd),
        )
        .await?;
        let api_version = format!("{group}/v1");
        let mut served = false;
        for _ in 0..100 {
            if Catalog::discover(&ctx.client)
                .await?
                .resolve(&api_version, "Dial")
                .is_some()
            {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served, "the API server never served the new kind");

        assert!(
            eager.resolve(&api_version, "Dial").await?.is_some(),
            "a miss refreshes"
        );
        assert_eq!(eager.refreshes().await, 1);
        assert!(eager.resolve(&api_version, "Dial").await?.is_some());
        assert_eq!(eager.refreshes().await, 1, "a known kind needs no refresh");
        assert!(patient.resolve(&api_version, "Dial").await?.is_none());
        assert!(
            patient
                .resolve("example.com/v1", "Nothing")
                .await?
                .is_none()
        );
        assert_eq!(
            patient.refreshes().await,
            0,
            "no refresh within the interval"
        );
        Ok(())
    })
    .await
}
