//! The sync engine one stage at a time, against the real API server, without the CLI: a CRD and
//! its custom resource land in one sync (apply the CRD, look until it is established, refresh
//! discovery, apply the resource); a wave that cannot become healthy is requeued — never waited
//! for inside a step — and fails once its time is up, with nothing of the next wave applied;
//! prune and the ownership rules hold through the step interface too.

use std::time::{Duration, SystemTime};

use capstan_api::{Operation, OperationPhase, Reason, ResultStatus};
use capstan_cluster::run::Run;
use capstan_cluster::step::{Progress, Step, step};
use capstan_cluster::{Catalog, SyncRequest, prepare};
use capstan_core::inventory::Inventory;
use capstan_core::outcome::Action;
use capstan_core::progress::Stage;
use capstan_core::tracking::AppId;
use capstan_testenv::{TestContext, Tier, run};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

fn request(app: &AppId, prune: bool) -> SyncRequest {
    SyncRequest {
        prune,
        wave_timeout: Duration::from_secs(30),
        ..SyncRequest::new(app, "")
    }
}

/// Plans a sync of `objects` for `app` in the test's namespace.
async fn begin(
    ctx: &TestContext,
    app: &AppId,
    objects: Vec<Value>,
    previous: &Inventory,
    request: &SyncRequest,
) -> anyhow::Result<(Catalog, Run)> {
    let catalog = Catalog::discover(&ctx.client).await?;
    let prepared = prepare(objects, &catalog, &ctx.namespace, app, request.options)?;
    let run = Run::begin(&ctx.client, &catalog, prepared, previous, request).await?;
    Ok((catalog, run))
}

/// Runs steps at the given clock until the sync is done or failed, or asks to wait; returns the
/// stages it ran and the last answer.
async fn steps_until_wait(
    ctx: &TestContext,
    catalog: &mut Catalog,
    run: &mut Run,
    progress: &mut Progress,
    now: SystemTime,
) -> (Vec<Stage>, Step) {
    let mut stages = Vec::new();
    loop {
        stages.push(progress.cursor.stage);
        match step(&ctx.client, catalog, run, progress, now).await {
            Step::Requeue { after } if after.is_zero() => {}
            other => return (stages, other),
        }
    }
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_land_in_one_step_wise_sync() -> anyhow::Result<()> {
    run(Tier::ApiServer, "steps-crd", |ctx| async move {
        let app = AppId::parse(&format!("{}/gauges", ctx.namespace))?;
        let group = format!("{}.steps.capstan.dev", ctx.namespace);
        let gauge = json!({"apiVersion": format!("{group}/v1"), "kind": "Gauge", "metadata": {"name": "g1"}});
        let request = request(&app, false);
        let previous = Inventory::default();
        let (mut catalog, mut run) =
            begin(&ctx, &app, vec![gauge, capstan_testenv::open_crd(&group, "v1", "Gauge", "gauges")], &previous, &request).await?;
        let mut progress = Progress::start(&run, SystemTime::now());
        let mut stages = Vec::new();
        let start = SystemTime::now();
        for n in 0..200 {
            let now = start + Duration::from_millis(100 * n);
            let (ran, answer) =
                steps_until_wait(&ctx, &mut catalog, &mut run, &mut progress, now).await;
            stages.extend(ran);
            match answer {
                Step::Done => break,
                Step::Failed { .. } => anyhow::bail!("{:?}", progress.outcome),
                Step::Requeue { after } => {
                    anyhow::ensure!(after <= Duration::from_secs(1), "{after:?}");
                    // The test waits for the API server, not for the engine: the engine's
                    // answer says when to look again.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        stages.dedup();
        assert_eq!(
            stages,
            [
                Stage::Apply(0),
                Stage::Established(0),
                Stage::Apply(1),
                Stage::Prune
            ],
            "{:?}",
            progress.outcome
        );
        assert!(progress.outcome.succeeded(), "{:?}", progress.outcome);
        let gauges: Api<DynamicObject> = Api::namespaced_with(
            ctx.client.clone(),
            &ctx.namespace,
            &ApiResource {
                group: group.clone(),
                version: "v1".into(),
                api_version: format!("{group}/v1"),
                kind: "Gauge".into(),
                plural: "gauges".into(),
            },
        );
        assert!(gauges.get_opt("g1").await?.is_some(), "the custom resource was not applied");
        Ok(())
    })
    .await
}

fn deployment(name: &str, wave: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"capstan.dev/sync-wave": wave}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }
    })
}

fn config_map(name: &str, wave: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": {"capstan.dev/sync-wave": wave}},
        "data": {"a": "1"}})
}

/// Without a controller manager a Deployment never becomes available: its wave is requeued
/// until the wave timeout, measured on the clock the caller passes in, and then fails.
#[tokio::test]
async fn an_unhealthy_wave_is_requeued_then_fails_at_its_timeout_and_the_next_wave_never_runs()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "steps-requeue", |ctx| async move {
        let app = AppId::parse(&format!("{}/waves", ctx.namespace))?;
        let objects = vec![deployment("web", "0"), config_map("after-web", "1")];
        let request = request(&app, false);
        let previous = Inventory::default();
        let (mut catalog, mut run) = begin(&ctx, &app, objects, &previous, &request).await?;
        let start = SystemTime::now();
        let mut progress = Progress::start(&run, start);

        let (ran, answer) =
            steps_until_wait(&ctx, &mut catalog, &mut run, &mut progress, start).await;
        assert_eq!(ran, [Stage::Apply(0), Stage::Prune, Stage::Healthy]);
        assert_eq!(
            answer,
            Step::Requeue {
                after: Duration::from_secs(1)
            }
        );
        let almost = start + request.wave_timeout - Duration::from_millis(300);
        let (_, answer) =
            steps_until_wait(&ctx, &mut catalog, &mut run, &mut progress, almost).await;
        assert_eq!(
            answer,
            Step::Requeue {
                after: Duration::from_millis(300)
            },
            "looks again no later than the timeout"
        );
        let past = start + request.wave_timeout;
        let (_, answer) = steps_until_wait(&ctx, &mut catalog, &mut run, &mut progress, past).await;
        assert_eq!(
            answer,
            Step::Failed {
                reason: Reason::HealthCheckFailed
            }
        );
        let stopped = progress
            .outcome
            .stopped
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            stopped.contains("wave 0 is not healthy: timed out") && stopped.contains("web"),
            "{stopped}"
        );
        assert!(
            !progress
                .outcome
                .objects
                .iter()
                .any(|o| o.key.name == "after-web"),
            "wave 1 ran: {:?}",
            progress.outcome
        );
        // What a controller would keep in the Application's status.
        let at = Time("2026-11-30T12:00:00Z".parse()?);
        let state = progress.operation_state(&run, Operation::default(), "abc123", at.clone(), at);
        assert_eq!(state.phase, OperationPhase::Failed);
        assert_eq!(state.reason, Some(Reason::HealthCheckFailed));
        assert!(
            state.message.contains("wave 0 is not healthy"),
            "{}",
            state.message
        );
        assert_eq!((state.wave, state.finished_at.is_some()), (Some(0), true));
        let results = state.sync_result.map(|r| r.resources).unwrap_or_default();
        assert_eq!(results.len(), 1, "{results:?}");
        let web = &results[0];
        assert_eq!(
            (web.object.name.as_str(), web.status),
            ("web", ResultStatus::Synced)
        );
        Ok(())
    })
    .await
}

/// Prune through the step interface: only owned objects that left, never another
/// application's object, and an object another application owns is not applied over.
#[tokio::test]
async fn step_wise_prune_and_apply_keep_the_ownership_rules() -> anyhow::Result<()> {
    run(Tier::ApiServer, "steps-ownership", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (a, b) = (
            AppId::parse(&format!("{ns}/a"))?,
            AppId::parse(&format!("{ns}/b"))?,
        );
        let sync_all = |app: &AppId, objects: Vec<Value>, previous: Inventory, prune: bool| {
            let (ctx, app) = (ctx.clone(), app.clone());
            async move {
                let request = request(&app, prune);
                let (mut catalog, mut run) =
                    begin(&ctx, &app, objects, &previous, &request).await?;
                let mut progress = Progress::start(&run, SystemTime::now());
                let (_, answer) = steps_until_wait(
                    &ctx,
                    &mut catalog,
                    &mut run,
                    &mut progress,
                    SystemTime::now(),
                )
                .await;
                let inventory = run.next_inventory(&previous, &progress.outcome.objects);
                anyhow::Ok((answer, progress.outcome, inventory))
            }
        };
        let (answer, _, inventory) = sync_all(
            &a,
            vec![config_map("keep", "0"), config_map("leaves", "0")],
            Inventory::default(),
            false,
        )
        .await?;
        assert_eq!(answer, Step::Done);

        let (answer, outcome, _) = sync_all(
            &b,
            vec![config_map("keep", "0")],
            Inventory::default(),
            false,
        )
        .await?;
        let reason = Reason::OwnedByOtherApplication;
        assert_eq!(
            answer,
            Step::Failed { reason },
            "b applied over a's object: {outcome:?}"
        );
        let refused = outcome.objects.iter().find(|o| o.key.name == "keep");
        assert!(
            refused.is_some_and(|o| o.action == Action::Failed
                && o.reason == Some(reason)
                && o.message.contains(&format!("owned by application {a}"))),
            "{outcome:?}"
        );

        let (answer, outcome, next) =
            sync_all(&a, vec![config_map("keep", "0")], inventory, true).await?;
        assert_eq!(answer, Step::Done, "{outcome:?}");
        let pruned: Vec<&str> = outcome
            .objects
            .iter()
            .filter(|o| o.action == Action::Pruned)
            .map(|o| o.key.name.as_str())
            .collect();
        assert_eq!(pruned, ["leaves"]);
        assert_eq!(next.len(), 1, "{next:?}");
        Ok(())
    })
    .await
}

/// `Force` through the step interface: an owned object whose immutable field changed is deleted
/// and recreated; an object created by hand is not deleted, and the step fails with `NotOwned`.
#[tokio::test]
async fn force_recreates_only_an_owned_object_step_by_step() -> anyhow::Result<()> {
    run(Tier::ApiServer, "steps-force", |ctx| async move {
        let ns = ctx.namespace.clone();
        let app = AppId::parse(&format!("{ns}/force"))?;
        let immutable = |name: &str, value: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "annotations": {"capstan.dev/sync-options": "Force=true"}},
                "immutable": true, "data": {"a": value}})
        };
        let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(ctx.client.clone(), &ns);
        let by_hand = immutable("by-hand", "1");
        maps.patch("by-hand", &kube::api::PatchParams::apply("kubectl"), &kube::api::Patch::Apply(&by_hand))
            .await?;
        let request = request(&app, false);
        let run_all = |objects: Vec<Value>, previous: Inventory| {
            let (ctx, app, request) = (ctx.clone(), app.clone(), request.clone());
            async move {
                let (mut catalog, mut run) = begin(&ctx, &app, objects, &previous, &request).await?;
                let mut progress = Progress::start(&run, SystemTime::now());
                let (_, answer) = steps_until_wait(&ctx, &mut catalog, &mut run, &mut progress, SystemTime::now()).await;
                let next = run.next_inventory(&previous, &progress.outcome.objects);
                anyhow::Ok((answer, progress.outcome, next))
            }
        };
        let (answer, _, inventory) = run_all(vec![immutable("owned", "1")], Inventory::default()).await?;
        assert_eq!(answer, Step::Done);
        let uid = |name: &'static str| {
            let maps = maps.clone();
            async move { anyhow::Ok(maps.get(name).await?.metadata.uid) }
        };
        let (owned_before, hand_before) = (uid("owned").await?, uid("by-hand").await?);

        let (answer, outcome, _) =
            run_all(vec![immutable("owned", "2"), immutable("by-hand", "2")], inventory).await?;
        assert_eq!(answer, Step::Failed { reason: Reason::NotOwned }, "{outcome:?}");
        let of = |name: &str| outcome.objects.iter().find(|o| o.key.name == name).cloned();
        let owned = of("owned").expect("owned was applied");
        assert_eq!((owned.action, owned.reason), (Action::Created, None), "{owned:?}");
        let refused = of("by-hand").expect("by-hand was tried");
        assert_eq!(refused.action, Action::Failed);
        assert!(refused.message.contains("not owned by application"), "{refused:?}");
        assert_ne!(uid("owned").await?, owned_before, "the owned object was not recreated");
        assert_eq!(uid("by-hand").await?, hand_before, "the object made by hand was deleted");
        Ok(())
    })
    .await
}
