//! "Refresh every Application using repository R at branch B" (what a webhook receiver calls):
//! with a repository poll too slow to notice anything during the test, a pushed commit is synced
//! as soon as the push is announced — for an Application following that branch, and not for one
//! following another.

mod common;

use std::time::Duration;

use capstan_api::application::Application;
use capstan_testenv::{Tier, run};
use common::*;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_announced_for_a_repository_and_branch_syncs_its_applications_at_once()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-refresh", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (repo, url, first) = repository(&ctx, &[("settings.yaml", &settings("info"))]).await?;
        let (context, stop) = controller(&ctx, Duration::from_secs(3600)).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let policy = json!({"automated": {"prune": true}});
        apps.create(
            &PostParams::default(),
            &application(&ns, "web", &url, policy.clone())?,
        )
        .await?;
        let mut other = application(&ns, "other", &url, policy)?;
        other.spec.source.target_revision = Some("release".into());
        other.spec.destination.namespace = Some(format!("{ns}-unused"));
        apps.create(&PostParams::default(), &other).await?;
        let revision = |app: &Application| sync(app).and_then(|s| s.revision.clone());
        until(&apps, "web", "the first sync", |app| {
            revision(app).as_deref() == Some(first.as_str())
        })
        .await?;

        let second = push_level(&repo, "debug")?;
        let refresher = context
            .refresher
            .get()
            .ok_or_else(|| anyhow::anyhow!("no refresher"))?;
        // The receiver may name the repository another way than the Applications do.
        let announced = format!("{}/", url.trim_end_matches(".git"));
        let announced_at = tokio::time::Instant::now();
        let queued = refresher.refresh(&announced, "refs/heads/main").await?;
        assert_eq!(
            queued, 1,
            "only the Application following main is refreshed"
        );
        until(&apps, "web", "the pushed commit", |app| at(app, &second)).await?;
        let took = announced_at.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "synced {took:?} after the announcement"
        );
        eprintln!("synced {took:?} after the announcement");
        assert!(refresher.refresh("not a url", "main").await.is_err());
        let _ = stop.send(());
        Ok(())
    })
    .await
}
