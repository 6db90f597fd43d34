//! A synced application costs the API server nothing, counted request by request in the test
//! apiserver's audit log for Capstan's own user: compares served by the shared watch caches and
//! the fingerprints of the last apply make no dry-run, no write, no LIST and no GET once the
//! caches have started; a status-only change by a controller is still free; an edit by another
//! field manager makes exactly that object differ, with exactly one dry-run.

use std::time::Duration;

use std::time::SystemTime;

use capstan_cluster::compare::{Context, compare_app, differences_in};
use capstan_cluster::live_cache::LiveCache;
use capstan_cluster::live_version::LiveVersion;
use capstan_cluster::run::Run;
use capstan_cluster::step::{Progress, Step, step};
use capstan_cluster::{Catalog, Prepared, SyncRequest, prepare, sync};
use capstan_core::inventory::Inventory;
use capstan_core::options::SyncOptions;
use capstan_core::tracking::AppId;
use capstan_testenv::audit::AuditEvent;
use capstan_testenv::{TestContext, Tier, run};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

/// Pairs of objects (a ConfigMap and a Deployment each): 200 objects.
const PAIRS: usize = 100;
const COMPARES: usize = 10;

fn objects() -> Vec<Value> {
    (0..PAIRS)
        .flat_map(|i| {
            let name = format!("app-{i:03}");
            [
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name}, "data": {"LEVEL": "info"}}),
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name},
                    "spec": {"selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}}}),
            ]
        })
        .collect()
}

/// Syncs `prepared` (pruning) with Capstan's client; returns the inventory to keep.
async fn synced(
    capstan: &kube::Client,
    catalog: &mut Catalog,
    app: &AppId,
    prepared: &[Prepared],
) -> anyhow::Result<Inventory> {
    let namespace = prepared
        .first()
        .map(|p| p.key.namespace.clone())
        .unwrap_or_default();
    let request = SyncRequest {
        prune: true,
        ..SyncRequest::new(app, &namespace)
    };
    let previous = Inventory::default();
    let (outcome, inventory) =
        sync(capstan, catalog, prepared.to_vec(), &previous, &request).await?;
    anyhow::ensure!(outcome.succeeded(), "{outcome:?}");
    Ok(inventory)
}

/// Compares the application against the caches; returns the names of the differing objects.
async fn compare(
    capstan: &kube::Client,
    cache: &LiveCache,
    catalog: &Catalog,
    (app, prepared, inventory): (&AppId, &[Prepared], &Inventory),
) -> anyhow::Result<Vec<String>> {
    let live = cache.observe(app, prepared, inventory, &[], 16).await?;
    let cx = Context {
        client: capstan,
        catalog,
        app,
        rules: &[],
        parallelism: 16,
        dry_run_missing: false,
    };
    let found = differences_in(&cx, prepared, &live, inventory).await?;
    Ok(found.diffs.iter().map(|d| d.key.to_string()).collect())
}

/// Starts the caches with one compare (their first LISTs), then compares `COMPARES` times; every
/// compare must find nothing. Returns the caches and the audit mark taken after start-up.
async fn compare_repeatedly(
    ctx: &TestContext,
    capstan: &kube::Client,
    catalog: &Catalog,
    state: (&AppId, &[Prepared], &Inventory),
) -> anyhow::Result<(LiveCache, capstan_testenv::audit::AuditMark)> {
    let cache = LiveCache::new(capstan.clone());
    anyhow::ensure!(compare(capstan, &cache, catalog, state).await?.is_empty());
    let mark = ctx.audit()?.mark();
    for _ in 0..COMPARES {
        let differing = compare(capstan, &cache, catalog, state).await?;
        anyhow::ensure!(
            differing.is_empty(),
            "a synced application differs: {differing:?}"
        );
    }
    Ok((cache, mark))
}

/// Capstan's requests since `mark` that match `what`, as lines for a failure message.
fn requests(
    ctx: &TestContext,
    mark: capstan_testenv::audit::AuditMark,
    what: fn(&AuditEvent) -> bool,
) -> anyhow::Result<(usize, String)> {
    let audit = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
    Ok((audit.count(what), audit.to_string()))
}

#[tokio::test]
async fn a_synced_application_is_compared_with_no_request_but_what_changed() -> anyhow::Result<()> {
    run(Tier::ApiServer, "steady-state", |ctx| async move {
        let ns = ctx.namespace.clone();
        let capstan = ctx.capstan_client().await?;
        let app = AppId::parse(&format!("{ns}/steady"))?;
        let mut catalog = Catalog::discover(&capstan).await?;
        let options = SyncOptions::default();
        let prepared = prepare(objects(), &catalog, &ns, &app, options)?;
        let inventory = synced(&capstan, &mut catalog, &app, &prepared).await?;
        let state = (&app, prepared.as_slice(), &inventory);

        let (cache, mark) = compare_repeatedly(&ctx, &capstan, &catalog, state).await?;
        for (what, matches) in [
            (
                "dry-runs",
                AuditEvent::is_dry_run as fn(&AuditEvent) -> bool,
            ),
            ("writes", AuditEvent::is_write),
            ("LISTs", AuditEvent::is_list),
            ("GETs", AuditEvent::is_get),
        ] {
            let (n, log) = requests(&ctx, mark, matches)?;
            assert_eq!(
                n, 0,
                "{COMPARES} compares of a synced application made {what}:\n{log}"
            );
        }

        // A controller writes status: the live fingerprint ignores it.
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        let status = json!({"status": {"observedGeneration": 1, "replicas": 1}});
        let version = cache.version(&app);
        deployments
            .patch_status("app-000", &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        // The caches keep projections: that they saw a change shows in the application's
        // live version.
        let seen = |version: LiveVersion, what: &'static str| {
            let (cache, app) = (&cache, &app);
            async move {
                for _ in 0..100 {
                    if cache.version(app) != version {
                        return anyhow::Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                anyhow::bail!("the cache never saw {what}")
            }
        };
        seen(version, "the status change").await?;
        let mark = ctx.audit()?.mark();
        assert_eq!(
            compare(&capstan, &cache, &catalog, state).await?,
            Vec::<String>::new()
        );
        let (n, log) = requests(&ctx, mark, |e| e.is_dry_run() || e.is_get())?;
        assert_eq!(n, 0, "a status-only change made dry-runs or GETs:\n{log}");

        // Another field manager edits one ConfigMap: exactly that object differs, read whole
        // with one GET and dry-run once.
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let version = cache.version(&app);
        let edit = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        };
        maps.patch(
            "app-000",
            &edit,
            &Patch::Merge(json!({"data": {"LEVEL": "debug"}})),
        )
        .await?;
        seen(version, "the edit").await?;
        let mark = ctx.audit()?.mark();
        let differing = compare(&capstan, &cache, &catalog, state).await?;
        assert_eq!(differing, [format!("ConfigMap {ns}/app-000")]);
        let (n, log) = requests(&ctx, mark, AuditEvent::is_dry_run)?;
        assert_eq!(n, 1, "one edited object, dry-runs:\n{log}");
        let (n, log) = requests(&ctx, mark, AuditEvent::is_get)?;
        assert_eq!(n, 1, "one edited object, GETs:\n{log}");

        // Compare once, then sync from that compare: the one write reverts the edit; nothing is
        // read or dry-run a second time (the edited object is read whole once, for the compare).
        let mark = ctx.audit()?.mark();
        let live = cache.observe(&app, &prepared, &inventory, &[], 16).await?;
        let cx = Context {
            client: &capstan,
            catalog: &catalog,
            app: &app,
            rules: &[],
            parallelism: 16,
            dry_run_missing: false,
        };
        let comparison = compare_app(&cx, &prepared, &live, &inventory).await?;
        let request = SyncRequest::new(&app, &ns);
        let mut run = Run::from_comparison(
            prepared.clone(),
            live.whole,
            comparison,
            &inventory,
            &request,
        )?;
        let mut progress = Progress::start(&run, SystemTime::now());
        loop {
            match step(
                &capstan,
                &mut catalog,
                &mut run,
                &mut progress,
                SystemTime::now(),
            )
            .await
            {
                Step::Done => break,
                Step::Requeue { after } if after.is_zero() => {}
                other => anyhow::bail!("{other:?}: {:?}", progress.outcome),
            }
        }
        let audit = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
        let count = |what: fn(&AuditEvent) -> bool| audit.count(what);
        assert_eq!(
            (count(AuditEvent::is_dry_run), count(AuditEvent::is_write)),
            (1, 1),
            "compare once and sync from it:\n{audit}"
        );
        assert_eq!(
            (count(AuditEvent::is_list), count(AuditEvent::is_get)),
            (0, 1),
            "{audit}"
        );
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let reverted = maps.get("app-000").await?;
        assert_eq!(reverted.data.unwrap_or_default()["LEVEL"], "info");
        Ok(())
    })
    .await
}

/// With a mutating admission webhook raising CPU requests (as GKE Autopilot does), the live
/// objects differ from git on purpose — and a synced application still costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the webhook serves while we compare
async fn admission_mutations_cost_nothing_in_steady_state() -> anyhow::Result<()> {
    run(Tier::ApiServer, "steady-webhook", |ctx| async move {
        let ns = ctx.namespace.clone();
        let label = ("capstan.dev/test-autopilot", ns.as_str());
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
        let labels = json!({"metadata": {"labels": {label.0: label.1}}});
        namespaces
            .patch(&ns, &PatchParams::default(), &Patch::Merge(&labels))
            .await?;
        let _webhook = capstan_testenv::webhook::MutatingWebhook::start(
            &ctx.client,
            &format!("autopilot-{ns}"),
            label,
            250,
        )
        .await?;

        let capstan = ctx.capstan_client().await?;
        let app = AppId::parse(&format!("{ns}/mutated"))?;
        let mut catalog = Catalog::discover(&capstan).await?;
        let options = SyncOptions::default();
        let deployments: Vec<Value> = objects()
            .into_iter()
            .filter(|o| o["kind"] == "Deployment")
            .take(20)
            .map(|mut d| {
                d["spec"]["template"]["spec"]["containers"][0]["resources"] =
                    json!({"requests": {"cpu": "10m", "memory": "64Mi"}});
                d
            })
            .collect();
        let prepared = prepare(deployments, &catalog, &ns, &app, options)?;
        let inventory = synced(&capstan, &mut catalog, &app, &prepared).await?;
        let live: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        let mutated = live.get("app-000").await?;
        let cpu = mutated
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|s| s.containers[0].resources.clone())
            .and_then(|r| r.requests)
            .and_then(|r| r.get("cpu").cloned());
        assert_eq!(
            cpu.map(|q| q.0),
            Some("250m".to_owned()),
            "the webhook did not mutate"
        );

        let state = (&app, prepared.as_slice(), &inventory);
        let (_cache, mark) = compare_repeatedly(&ctx, &capstan, &catalog, state).await?;
        let (n, log) = requests(&ctx, mark, |e| {
            e.is_dry_run() || e.is_write() || e.is_list() || e.is_get()
        })?;
        assert_eq!(
            n, 0,
            "{COMPARES} compares of a mutated, synced application made requests:\n{log}"
        );
        Ok(())
    })
    .await
}

/// A controller's compare of objects not created yet (`dry_run_missing: false`): each differs,
/// and none is dry-run — its sync creates it, so the dry-run would only repeat that work.
#[tokio::test]
async fn objects_not_created_yet_differ_without_a_dry_run() -> anyhow::Result<()> {
    run(Tier::ApiServer, "steady-missing", |ctx| async move {
        let ns = ctx.namespace.clone();
        let capstan = ctx.capstan_client().await?;
        let app = AppId::parse(&format!("{ns}/fresh"))?;
        let catalog = Catalog::discover(&capstan).await?;
        let prepared = prepare(objects(), &catalog, &ns, &app, SyncOptions::default())?;
        let inventory = Inventory::default();
        let cache = LiveCache::new(capstan.clone());
        let mark = ctx.audit()?.mark();
        let state = (&app, prepared.as_slice(), &inventory);
        let differing = compare(&capstan, &cache, &catalog, state).await?;
        assert_eq!(differing.len(), prepared.len(), "{differing:?}");
        let (n, log) = requests(&ctx, mark, AuditEvent::is_dry_run)?;
        assert_eq!(n, 0, "objects not created yet were dry-run:\n{log}");
        Ok(())
    })
    .await
}
