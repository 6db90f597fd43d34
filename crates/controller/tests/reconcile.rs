//! The Application controller end to end against a real API server and a real git server with
//! basic auth: Synced, Healthy and Ready at the pushed commit (with Events); a new commit after the
//! refresh annotation; a requested sync; a commit that does not render; self-heal; `dependsOn`;
//! deletion with and without prune.

mod common;

use std::time::Duration;

use anyhow::Context as _;
use capstan_api::application::{Application, ConditionStatus};
use capstan_api::{HealthStatus, REFRESH_ANNOTATION, SyncStatus};
use capstan_testenv::{Content, Tier, commit_files, run};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_for_a_private_repository_becomes_synced_healthy_and_ready()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-synced", |ctx| async move {
        let ns = ctx.namespace.clone();
        let files = [
            (
                "kustomization.yaml",
                "resources: [settings.yaml, service.yaml]\n".to_owned(),
            ),
            ("settings.yaml", settings("info")),
            ("service.yaml", SERVICE.to_owned()),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (repo, url, first, stop) = repository_and_controller(&ctx, &files).await?;

        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let policy = json!({"automated": {"prune": true, "selfHeal": true}});
        let app = application(&ns, "web", &url, policy)?;
        apps.create(&PostParams::default(), &app).await?;

        let synced = until(&apps, "web", "Ready=True", is_ready).await?;
        let status = synced.status.context("status")?;
        let summary = status.sync.clone().context("sync")?;
        assert_eq!(
            (summary.status, summary.revision.as_deref()),
            (SyncStatus::Synced, Some(first.as_str()))
        );
        assert_eq!(status.health.map(|h| h.status), Some(HealthStatus::Healthy));
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        assert_eq!(
            maps.get("settings").await?.data.unwrap_or_default()["LEVEL"],
            "info"
        );
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(ctx.client.clone(), &ns);
        let reasons: Vec<String> = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
            .filter_map(|e| e.reason)
            .collect();
        for reason in ["SyncStarted", "Synced", "HealthChanged"] {
            assert!(
                reasons.iter().any(|r| r == reason),
                "no {reason} Event: {reasons:?}"
            );
        }

        // A new commit, noticed at once through the refresh annotation.
        let second = push_level(&repo, "debug")?;
        let refresh = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "now"}}});
        let refreshed = tokio::time::Instant::now();
        apps.patch("web", &PatchParams::default(), &Patch::Merge(&refresh))
            .await?;
        until(&apps, "web", "the second commit synced", |app| {
            at(app, &second) && is_ready(app)
        })
        .await?;
        let took = refreshed.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "synced {took:?} after the refresh annotation"
        );
        assert_eq!(
            maps.get("settings").await?.data.unwrap_or_default()["LEVEL"],
            "debug"
        );

        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_sync_runs_once_is_recorded_and_a_broken_commit_changes_nothing()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-operation", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (repo, url, first, stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        // No sync policy: the controller compares and reports, and applies nothing by itself.
        let app = application(&ns, "manual", &url, json!(null))?;
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "manual", "OutOfSync at the first commit", |app| {
            sync(app).is_some_and(|s| {
                s.status == SyncStatus::OutOfSync && s.revision.as_deref() == Some(first.as_str())
            })
        })
        .await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        assert!(
            maps.get_opt("settings").await?.is_none(),
            "applied without a policy or request"
        );

        let request =
            json!({"operation": {"initiatedBy": {"username": "jane"}, "sync": {"prune": true}}});
        apps.patch("manual", &PatchParams::default(), &Patch::Merge(&request))
            .await?;
        let done = until(
            &apps,
            "manual",
            "the requested sync to succeed and be cleared",
            |app| {
                app.operation.is_none()
                    && app
                        .status
                        .as_ref()
                        .and_then(|s| s.operation_state.as_ref())
                        .is_some_and(|op| op.phase == capstan_api::OperationPhase::Succeeded)
            },
        )
        .await?;
        let history = done.status.map(|s| s.history).unwrap_or_default();
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(
            history[0]
                .initiated_by
                .as_ref()
                .map(|b| b.username.as_str()),
            Some("jane")
        );
        let before = maps.get("settings").await?;

        // A commit that does not render: Ready=False naming the file; nothing in the cluster moves.
        commit_files(
            &repo,
            "main",
            &[("app/settings.yaml", Content::File("data: [unclosed\n"))],
            "broken",
        )?;
        let refresh = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "broken"}}});
        apps.patch("manual", &PatchParams::default(), &Patch::Merge(&refresh))
            .await?;
        let failed = until(
            &apps,
            "manual",
            "Ready=False for the broken commit",
            |app| {
                ready(app).is_some_and(|c| {
                    c.status == ConditionStatus::False && c.message.contains("settings.yaml")
                })
            },
        )
        .await?;
        let ready = ready(&failed).cloned();
        assert_eq!(
            ready.map(|c| c.reason),
            Some(capstan_api::Reason::RenderFailed)
        );
        let after = maps.get("settings").await?;
        assert_eq!(
            (after.metadata.uid, after.metadata.resource_version),
            (before.metadata.uid, before.metadata.resource_version),
            "a broken commit changed the cluster"
        );
        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_object_deleted_by_hand_is_recreated_within_seconds_with_self_heal()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-self-heal", |ctx| async move {
        let (_apps, stop) = synced_app(&ctx, json!({"prune": true, "selfHeal": true})).await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let before = maps.get("settings").await?.metadata.uid;
        maps.delete("settings", &Default::default()).await?;
        let deadline = tokio::time::Instant::now() + DRIFT;
        loop {
            if let Some(again) = maps.get_opt("settings").await? {
                assert_ne!(again.metadata.uid, before, "the same object?");
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "not recreated within {DRIFT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_self_heal_a_deleted_object_is_reported_out_of_sync_and_not_recreated()
-> anyhow::Result<()> {
    run(
        Tier::ApiServer,
        "controller-no-self-heal",
        |ctx| async move {
            let (apps, stop) = synced_app(&ctx, json!({"prune": true, "selfHeal": false})).await?;
            let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
            maps.delete("settings", &Default::default()).await?;
            let started = tokio::time::Instant::now();
            until(&apps, "web", "OutOfSync", |app| {
                sync(app).is_some_and(|s| s.status == SyncStatus::OutOfSync)
            })
            .await?;
            assert!(
                started.elapsed() < DRIFT,
                "OutOfSync only after {:?}",
                started.elapsed()
            );
            assert!(
                maps.get_opt("settings").await?.is_none(),
                "recreated without self-heal"
            );
            let _ = stop.send(());
            Ok(())
        },
    )
    .await
}

/// `dependsOn`: B waits, saying on what, until A is Ready; A's status change (not a poll) wakes
/// B, which then syncs within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_application_waits_for_its_dependency_then_syncs_within_seconds()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-depends-on", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (_, url, _, stop) =
            repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let app = |name: &str,
                   destination: &str,
                   depends_on: serde_json::Value|
         -> anyhow::Result<Application> {
            Ok(serde_json::from_value(json!({
                "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"source": {"repoURL": url, "targetRevision": "main", "path": "app",
                        "secretRef": {"name": "repo"}},
                    "destination": {"namespace": destination},
                    "dependsOn": depends_on,
                    "syncPolicy": {"automated": {"prune": true},
                        "syncOptions": ["CreateNamespace=true"]}},
            }))?)
        };
        let later = format!("{ns}-b");
        apps.create(
            &PostParams::default(),
            &app("b", &later, json!([{"name": "a"}]))?,
        )
        .await?;
        let ready_reason = |app: &Application| ready(app).map(|c| (c.status, c.reason));
        let waiting = until(&apps, "b", "b waiting for a", |app| {
            ready_reason(app)
                == Some((
                    ConditionStatus::False,
                    capstan_api::Reason::DependencyNotReady,
                ))
        })
        .await?;
        let names: Vec<String> = waiting
            .status
            .map(|s| s.waiting_for)
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["a"]);

        apps.create(&PostParams::default(), &app("a", &ns, json!([]))?)
            .await?;
        let is_ready =
            |app: &Application| ready_reason(app).is_some_and(|(s, _)| s == ConditionStatus::True);
        until(&apps, "a", "a Ready", is_ready).await?;
        let a_ready = tokio::time::Instant::now();
        until(&apps, "b", "b Ready", is_ready).await?;
        assert!(
            a_ready.elapsed() < Duration::from_secs(2),
            "b synced {:?} after a was Ready",
            a_ready.elapsed()
        );
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &later);
        assert!(maps.get_opt("settings").await?.is_some());
        let _ = stop.send(());
        Ok(())
    })
    .await
}

/// Deleting an Application deletes its objects only when its policy prunes; otherwise they stay.
async fn delete_app_then_check(prune: bool) -> anyhow::Result<()> {
    let name = if prune {
        "controller-delete-prune"
    } else {
        "controller-delete-keep"
    };
    run(Tier::ApiServer, name, |ctx| async move {
        let (apps, stop) = synced_app(&ctx, json!({"prune": prune})).await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let before = maps.get("settings").await?.metadata.uid;
        apps.delete("web", &Default::default()).await?;
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while apps.get_opt("web").await?.is_some() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the Application was never deleted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left = maps.get_opt("settings").await?.and_then(|m| m.metadata.uid);
        if prune {
            assert_eq!(
                left, None,
                "a pruning Application's object survived its deletion"
            );
        } else {
            assert_eq!(left, before, "an object was deleted without prune");
        }
        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_that_prunes_deletes_its_objects() -> anyhow::Result<()> {
    delete_app_then_check(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_that_does_not_prune_keeps_its_objects() -> anyhow::Result<()> {
    delete_app_then_check(false).await
}

/// A commit removing a file: its object is pruned when the policy prunes; otherwise it stays,
/// listed in status as requiring pruning (and the Application OutOfSync).
async fn remove_file_then_check(prune: bool) -> anyhow::Result<()> {
    let name = if prune {
        "controller-removed-prune"
    } else {
        "controller-removed-keep"
    };
    run(Tier::ApiServer, name, |ctx| async move {
        let ns = ctx.namespace.clone();
        let extra =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  A: \"1\"\n";
        let files = [
            ("settings.yaml", settings("info")),
            ("extra.yaml", extra.to_owned()),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (repo, url, _, stop) = repository_and_controller(&ctx, &files).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let app = application(&ns, "web", &url, json!({"automated": {"prune": prune}}))?;
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "web", "Ready=True", is_ready).await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let before = maps.get("extra").await?.metadata.uid;

        let removed = commit_files(&repo, "main", &[("app/extra.yaml", Content::Delete)], "rm")?;
        let listed = |app: &Application| {
            app.status
                .as_ref()
                .and_then(|s| s.resources.iter().find(|r| r.name == "extra"))
                .map(|r| r.requires_pruning)
        };
        let at_removed = |app: &Application| {
            sync(app).and_then(|s| s.revision.as_deref()) == Some(removed.as_str())
        };
        if prune {
            let synced = until(&apps, "web", "extra pruned", |app| {
                at_removed(app) && is_ready(app) && listed(app).is_none()
            })
            .await?;
            assert_eq!(sync(&synced).map(|s| s.status), Some(SyncStatus::Synced));
            assert!(maps.get_opt("extra").await?.is_none(), "not pruned");
        } else {
            let kept = until(&apps, "web", "extra listed as requiring pruning", |app| {
                at_removed(app) && listed(app) == Some(true)
            })
            .await?;
            assert_eq!(sync(&kept).map(|s| s.status), Some(SyncStatus::OutOfSync));
            let left = maps.get_opt("extra").await?.and_then(|m| m.metadata.uid);
            assert_eq!(left, before, "pruned, or recreated, without prune");
        }
        let _ = stop.send(());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_removed_from_the_repository_is_pruned_when_the_policy_prunes() -> anyhow::Result<()>
{
    remove_file_then_check(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_removed_without_prune_stays_listed_as_requiring_pruning() -> anyhow::Result<()> {
    remove_file_then_check(false).await
}
