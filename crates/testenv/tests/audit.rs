//! The test apiserver's audit log counts exactly the requests an identity made: each test's
//! Capstan user sees its own GET, LIST, dry-run PATCH, PATCH and WATCH, classified, and none of
//! the harness's or another test's requests; a request is in the log as soon as its response is.

use std::time::Duration;

use anyhow::{Context, ensure};
use capstan_testenv::{ADMIN_USER, Tier, run};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

fn config_map(name: &str, key: &str) -> anyhow::Result<ConfigMap> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name },
        "data": { key: "1" },
    }))?)
}

#[tokio::test]
async fn capstans_get_list_dry_run_patch_and_watch_are_counted_once_each_as_its_user()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "audit counts capstan", |ctx| async move {
        let admin = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ctx.namespace);
        admin
            .create(&PostParams::default(), &config_map("settings", "admin")?)
            .await
            .context("admin creates the configmap")?;
        let mark = ctx.audit()?.mark();

        let capstan = Api::<ConfigMap>::namespaced(ctx.capstan_client().await?, &ctx.namespace);
        capstan.get("settings").await.context("get")?;
        capstan.list(&ListParams::default()).await.context("list")?;
        let apply = PatchParams::apply("capstan");
        let desired = Patch::Apply(config_map("settings", "capstan")?);
        capstan
            .patch("settings", &apply.clone().dry_run(), &desired)
            .await
            .context("dry-run apply")?;
        capstan
            .patch("settings", &apply, &desired)
            .await
            .context("apply")?;
        let watch = capstan
            .watch(&WatchParams::default(), "0")
            .await
            .context("watch")?;
        // The harness's identity keeps working beside it, and is not counted as Capstan.
        admin.get("settings").await.context("admin get")?;

        let audit = ctx.audit()?;
        let mine = audit.clone().since(mark).by_user(&ctx.capstan_user);
        ensure!(mine.len() == 5, "expected 5 requests:\n{mine}");
        for (what, count) in [
            ("get", mine.count(|e| e.is_get())),
            ("list", mine.count(|e| e.is_list())),
            ("dry-run", mine.count(|e| e.is_dry_run())),
            ("write", mine.count(|e| e.is_write())),
            ("watch", mine.count(|e| e.is_watch())),
            ("patch", mine.count(|e| e.verb == "patch")),
        ] {
            let expected = if what == "patch" { 2 } else { 1 };
            ensure!(
                count == expected,
                "{count} × {what}, expected {expected}:\n{mine}"
            );
        }
        ensure!(
            mine.count(|e| e.namespace() == Some(&ctx.namespace)
                && e.resource() == Some("configmaps")
                && e.code() == Some(200)
                && e.user.groups.iter().any(|g| g == "system:masters"))
                == 5,
            "every request is a configmap in the test's namespace, answered 200:\n{mine}"
        );
        let all_mine = audit.clone().by_user(&ctx.capstan_user);
        ensure!(all_mine.len() == 5, "before the mark too:\n{all_mine}");
        let admins = audit
            .since(mark)
            .by_user(ADMIN_USER)
            .in_namespace(&ctx.namespace);
        ensure!(
            admins.count(|e| e.is_get()) == 1,
            "the admin's get:\n{admins}"
        );

        // A watch is counted when its response starts; when it ends, it is not counted again.
        let watch_id = mine
            .iter()
            .find(|e| e.is_watch())
            .map(|e| e.audit_id.clone())
            .context("the watch's audit ID")?;
        drop(watch);
        let path = ctx.audit_log.path().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&path)?.matches(&watch_id).count() < 2 {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the watch's ResponseComplete event never came"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
        ensure!(
            after.len() == 5 && after.count(|e| e.is_watch()) == 1,
            "{after}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_test_counts_its_own_namespace_and_user_while_other_tests_run() -> anyhow::Result<()> {
    run(Tier::ApiServer, "audit by namespace", |ctx| async move {
        let mark = ctx.audit()?.mark();
        let client = ctx.capstan_client().await?;
        let here = Api::<ConfigMap>::namespaced(client.clone(), &ctx.namespace);
        for _ in 0..3 {
            here.list(&ListParams::default())
                .await
                .context("list here")?;
        }
        Api::<ConfigMap>::namespaced(client, "default")
            .list(&ListParams::default())
            .await
            .context("list in default")?;

        let audit = ctx.audit()?.since(mark);
        let here = audit.clone().in_namespace(&ctx.namespace);
        ensure!(here.count(|e| e.is_list()) == 3, "{here}");
        ensure!(here.clone().by_user(&ctx.capstan_user).len() == 3, "{here}");
        let mine = audit.clone().by_user(&ctx.capstan_user);
        ensure!(mine.len() == 4, "{mine}");
        ensure!(mine.in_namespace("default").len() == 1);
        let health = ctx.audit()?.count(|e| {
            ["/readyz", "/healthz", "/livez"]
                .iter()
                .any(|p| e.request_uri.starts_with(p))
        });
        ensure!(health == 0, "health checks are not logged");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn every_request_is_in_the_log_when_its_response_arrives() -> anyhow::Result<()> {
    run(Tier::ApiServer, "audit is synchronous", |ctx| async move {
        let api = Api::<ConfigMap>::namespaced(ctx.capstan_client().await?, &ctx.namespace);
        for n in 1..=30 {
            api.list(&ListParams::default()).await.context("list")?;
            let count = ctx.audit()?.by_user(&ctx.capstan_user).len();
            ensure!(
                count == n,
                "after {n} responses the log holds {count} requests"
            );
        }
        Ok(())
    })
    .await
}
