//! Leader election and shards end to end: replicas of the real `capstan controller`, each with
//! an identity of its own in the test apiserver, so the audit log tells who wrote what. A leader
//! frozen with SIGSTOP past its Lease is replaced, and after SIGCONT writes nothing; three
//! replicas share three shards, each Application written by exactly one of them, and a killed
//! replica's shard moves to the others.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use capstan_testenv::{Audit, AuditEvent, Content, TestContext, Tier, run};
use common::{app, config_map, eventually, free_port};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::process::Child;

/// The replicas' Lease duration: short, so a takeover is quick.
const LEASE: &str = "6s";

/// One replica: its identity (also its user's name part) and its process.
struct Replica {
    name: String,
    user: String,
    child: Child,
}

/// Starts the replica `name` as the user `capstan-<name>:<namespace>`, with `extra` arguments.
async fn replica(ctx: &TestContext, name: &str, extra: &[&str]) -> anyhow::Result<Replica> {
    let user = format!("capstan-{name}:{}", ctx.namespace);
    let env = capstan_testenv::shared(Tier::ApiServer).await?;
    let kubeconfig = env.identity(&user, Some("system:masters"))?;
    let mut args = vec!["--identity", name, "--lease-duration", LEASE];
    args.extend_from_slice(extra);
    let child = app::spawn_replica(ctx, &kubeconfig, free_port()?, name, &args)?;
    Ok(Replica {
        name: name.to_owned(),
        user,
        child,
    })
}

/// Sends `signal` (`STOP`, `CONT`) to the replica's process.
fn signal(replica: &Replica, signal: &str) -> anyhow::Result<()> {
    let pid = replica
        .child
        .id()
        .ok_or_else(|| anyhow::anyhow!("replica {} has exited", replica.name))?;
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid}: {status}");
    Ok(())
}

/// The holder of the Lease `name` in the test's namespace, if any.
async fn holder(ctx: &TestContext, name: &str) -> anyhow::Result<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let lease = leases.get_opt(name).await?;
    Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

/// Waits until the Lease `name` is held by `who` (any holder when `None`); returns the holder.
async fn until_held(ctx: &TestContext, name: &str, who: Option<&str>) -> anyhow::Result<String> {
    let what = format!("Lease {name} held by {}", who.unwrap_or("a replica"));
    eventually(&what, Duration::from_secs(60), || async {
        let now = holder(ctx, name).await?;
        Ok(now.filter(|h| who.is_none_or(|w| w == h)))
    })
    .await
}

/// A write (not a dry-run) to the Application `app` of the test's namespace.
fn writes_application(event: &AuditEvent, ns: &str, app: &str) -> bool {
    event.is_write()
        && !event.is_dry_run()
        && event.namespace() == Some(ns)
        && event.resource() == Some("applications")
        && event.object_ref.as_ref().and_then(|o| o.name.as_deref()) == Some(app)
}

/// The users among `replicas` that wrote the Application `app` in `audit`.
fn writers(audit: &Audit, ns: &str, app: &str, replicas: &[&Replica]) -> BTreeSet<String> {
    replicas
        .iter()
        .filter(|r| {
            audit
                .clone()
                .by_user(&r.user)
                .count(|e| writes_application(e, ns, app))
                > 0
        })
        .map(|r| r.name.clone())
        .collect()
}

/// Commits a new value of the ConfigMap of each directory `dirs` (under `app/`).
fn change(repo: &std::path::Path, dirs: &[String], value: &str) -> anyhow::Result<String> {
    let texts: Vec<(String, String)> = dirs
        .iter()
        .map(|d| {
            (
                format!("{d}/settings.yaml"),
                config_map(&format!("{d}-settings"), value),
            )
        })
        .collect();
    let files: Vec<(&str, Content<'_>)> = texts
        .iter()
        .map(|(path, text)| (path.as_str(), Content::File(text)))
        .collect();
    app::commit(repo, &files, &format!("settings: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_is_replaced_within_20_s_and_writes_nothing_after_it_wakes()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "leader-frozen", |ctx| async move {
        app::install_crd(&ctx.client).await?;
        let dirs = vec!["web".to_owned()];
        let first = config_map("web-settings", "one");
        let repo = app::private_repository(&ctx, &[("web/settings.yaml", &first)]).await?;
        app::create_application(
            &ctx,
            "web",
            &repo.url,
            json!({"source": {"path": "app/web"}}),
        )
        .await?;
        let a = replica(&ctx, "a", &[]).await?;
        let b = replica(&ctx, "b", &[]).await?;
        app::until_synced(&ctx, "web", &repo.first).await?;
        let leader_name = until_held(&ctx, "capstan-controller", None).await?;
        let (leader, follower) = if leader_name == a.name {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let ns = ctx.namespace.clone();
        let audit = ctx.audit()?;
        assert!(
            writers(&audit, &ns, "web", &[&a, &b]) == BTreeSet::from([leader.name.clone()]),
            "only the leader writes the Application:\n{}",
            audit.by_user(&follower.user)
        );

        // The follower keeps warm caches: it lists and watches the kinds the Application
        // deploys before it ever reconciles it.
        let lists = |audit: &Audit| {
            audit
                .clone()
                .by_user(&follower.user)
                .count(|e| e.verb == "list" && e.resource() == Some("configmaps"))
        };
        eventually(
            "the follower to warm its caches",
            Duration::from_secs(30),
            || async { Ok((lists(&ctx.audit()?) > 0).then_some(())) },
        )
        .await?;

        // Frozen: the follower takes the Lease over and syncs a new commit.
        signal(leader, "STOP")?;
        let frozen = Instant::now();
        let second = change(&repo.dir, &dirs, "two")?;
        until_held(&ctx, "capstan-controller", Some(&follower.name)).await?;
        // The frozen leader's requests in flight, if any, ended long ago: from here on, any
        // write of its would be one made after its renew deadline.
        let mark = ctx.audit()?.mark();
        app::until_synced(&ctx, "web", &second).await?;
        let took = frozen.elapsed();
        assert!(
            took < Duration::from_secs(20),
            "took over and synced in {took:?}"
        );
        let since = ctx.audit()?.since(mark);
        assert_eq!(
            lists(&since),
            0,
            "the follower took over with cold caches:\n{since}"
        );

        // Woken: it learns it lost the Lease, and writes nothing meanwhile or after.
        signal(leader, "CONT")?;
        let third = change(&repo.dir, &dirs, "three")?;
        app::until_synced(&ctx, "web", &third).await?;
        let log = app::replica_log(&ctx, &leader.name);
        eventually(
            "the old leader to notice",
            Duration::from_secs(30),
            || async {
                let text = std::fs::read_to_string(&log)?;
                Ok(text.contains("lost the shard's Lease").then_some(()))
            },
        )
        .await?;
        let after = ctx.audit()?.since(mark).by_user(&leader.user);
        let writes = after.filter(|e| e.is_write() && e.resource() != Some("leases"));
        assert!(
            writes.is_empty(),
            "the old leader wrote after its renew deadline:\n{writes}"
        );
        assert_eq!(
            holder(&ctx, "capstan-controller").await?.as_deref(),
            Some(follower.name.as_str())
        );
        Ok(())
    })
    .await
}

/// The Application `name` for `app/<name>`, pinned to shard `shard`.
async fn pinned(ctx: &TestContext, name: &str, url: &str, shard: u32) -> anyhow::Result<()> {
    let application = json!({"apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ctx.namespace,
            "labels": {"capstan.dev/shard": shard.to_string()}},
        "spec": {
            "source": {"repoURL": url, "targetRevision": "main", "path": format!("app/{name}"),
                "secretRef": {"name": "repo"}},
            "destination": {"namespace": ctx.namespace},
            "syncPolicy": {"automated": {"prune": true}}}});
    app::applications(ctx)
        .create(
            &PostParams::default(),
            &serde_json::from_value(application)?,
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_three_shards_and_a_killed_ones_shard_moves_within_30_s()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "leader-shards", |ctx| async move {
        app::install_crd(&ctx.client).await?;
        let names: Vec<String> = (0..6).map(|i| format!("app{i}")).collect();
        let texts: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                (
                    format!("{n}/settings.yaml"),
                    config_map(&format!("{n}-settings"), "one"),
                )
            })
            .collect();
        let files: Vec<(&str, &str)> = texts
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let repo = app::private_repository(&ctx, &files).await?;
        let shard_of = |i: usize| u32::try_from(i % 3).unwrap_or(0);
        for (i, name) in names.iter().enumerate() {
            pinned(&ctx, name, &repo.url, shard_of(i)).await?;
        }
        let mut replicas = Vec::new();
        for name in ["r0", "r1", "r2"] {
            replicas.push(replica(&ctx, name, &["--shards", "3"]).await?);
        }
        for name in &names {
            app::until_synced(&ctx, name, &repo.first).await?;
        }
        let lease = |s: u32| format!("capstan-controller-shard-{s}-of-3");
        // The replicas settle on one shard each.
        let holders = eventually("one shard per replica", Duration::from_secs(60), || async {
            let mut held = Vec::new();
            for s in 0..3 {
                held.push(holder(&ctx, &lease(s)).await?.unwrap_or_default());
            }
            let distinct: BTreeSet<&String> = held.iter().filter(|h| !h.is_empty()).collect();
            Ok((distinct.len() == 3).then_some(held))
        })
        .await?;

        // Each Application is written by exactly the holder of its shard.
        let ns = ctx.namespace.clone();
        let all: Vec<&Replica> = replicas.iter().collect();
        let mark = ctx.audit()?.mark();
        let second = change(&repo.dir, &names, "two")?;
        for name in &names {
            app::until_synced(&ctx, name, &second).await?;
        }
        let audit = ctx.audit()?.since(mark);
        for (i, name) in names.iter().enumerate() {
            let expected = BTreeSet::from([holders[shard_of(i) as usize].clone()]);
            assert_eq!(writers(&audit, &ns, name, &all), expected, "{name}");
        }

        // Killed: the holder of shard 0's Applications move to a live replica within 30 s.
        let victim = replicas
            .iter()
            .position(|r| r.name == holders[0])
            .ok_or_else(|| anyhow::anyhow!("shard 0 held by an unknown replica"))?;
        let mut killed = replicas.remove(victim);
        killed.child.start_kill()?;
        killed.child.wait().await?;
        let gone = Instant::now();
        let mark = ctx.audit()?.mark();
        let third = change(&repo.dir, &names, "three")?;
        for name in &names {
            app::until_synced(&ctx, name, &third).await?;
        }
        let took = gone.elapsed();
        assert!(
            took < Duration::from_secs(30),
            "shard 0 moved and synced in {took:?}"
        );
        let heir = holder(&ctx, &lease(0)).await?.unwrap_or_default();
        assert!(
            replicas.iter().any(|r| r.name == heir),
            "shard 0 held by {heir}"
        );
        let audit = ctx.audit()?.since(mark);
        let all: Vec<&Replica> = replicas.iter().chain([&killed]).collect();
        for (i, name) in names.iter().enumerate() {
            let shard = shard_of(i);
            let now = holder(&ctx, &lease(shard)).await?.unwrap_or_default();
            assert_eq!(
                writers(&audit, &ns, name, &all),
                BTreeSet::from([now]),
                "{name} (shard {shard}) written by one replica, its shard's holder"
            );
        }
        Ok(())
    })
    .await
}
