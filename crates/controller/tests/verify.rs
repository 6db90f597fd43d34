//! Verified commits in the controller, with commits signed by the real tools (`ssh-keygen`,
//! `git commit -S`): a refused commit is verified before anything of it is read — its broken
//! manifests are never rendered — and end to end, an Application with `spec.source.verify`
//! deploys a signed head, refuses an unsigned one and one signed by a stranger (naming commit
//! and signer in its Ready condition and a warning Event) while the signed commit stays deployed,
//! deploys the next signed head, and stops at a trusted-keys Secret with an entry that is no key.

mod common;

use std::collections::BTreeMap;

use anyhow::ensure;
use capstan_api::application::{
    Application, ConditionType, SecretReference, SourceVerification, VerifyMode,
};
use capstan_api::{REFRESH_ANNOTATION, Reason};
use capstan_controller::SourceError;
use capstan_controller::source::{At, render_at};
use capstan_git::{CacheLimits, Credentials, RepoCache, TrustedKeys};
use capstan_render::Options;
use capstan_testenv::{GitServers, Signers, Tier, run};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn a_refused_commit_is_never_read_and_a_signed_one_renders() -> anyhow::Result<()> {
    let servers = GitServers::shared().await?;
    let name = format!("verify-render-{}.git", std::process::id());
    let repo = servers.create_repo(&name)?;
    let signers = Signers::new()?;
    let key = signers.ssh_key("release@example.test")?;
    let work = signers.clone_of(&repo)?;
    let (user, password) = servers.http_credentials();
    let creds = Credentials {
        basic: Some((user.to_owned(), password.to_owned())),
        ..Credentials::none()
    };
    let cache_dir = servers.dir().join("caches").join(&name);
    std::fs::create_dir_all(&cache_dir)?;
    let cache = RepoCache::new(cache_dir, CacheLimits::default());
    let data = BTreeMap::from([("release.pub".to_owned(), key.public().as_bytes().to_vec())]);
    let keys = TrustedKeys::from_secret_data(&data)?;
    let at = At {
        revision: "main",
        checked_within: std::time::Duration::ZERO,
        renders: None,
        verify: Some(&keys),
    };
    let url = servers.http_url(&name);
    let options = Options::default();
    let render = || render_at(&cache, &url, &creds, at, "app", &options);

    // Manifests that fail to render if read: the refusal comes first, so they are not.
    let unsigned = work.commit(&[("app/a.yaml", "kind: [broken\n")], "unsigned", None)?;
    match render().await {
        Err(err @ SourceError::Verify { .. }) => {
            let message = err.to_string();
            ensure!(err.reason() == Reason::VerificationFailed && !err.is_retryable());
            ensure!(
                message
                    == format!(
                        "refused to deploy revision \"main\": commit {unsigned} is not signed"
                    ),
                "{message}"
            );
        }
        other => anyhow::bail!("expected a refusal before reading, got {other:?}"),
    }

    let signed = work.commit(&[("app/a.yaml", &settings("signed"))], "signed", Some(&key))?;
    let rendered = render().await?;
    ensure!(rendered.commit.sha == signed && rendered.objects.len() == 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_head_after_a_signed_one_leaves_the_signed_commit_deployed()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-verify", |ctx| async move {
        let ns = ctx.namespace.clone();
        let (repo, url, _) = repository(&ctx, &[("settings.yaml", &settings("first"))]).await?;
        let signers = Signers::new()?;
        let (key, stranger) = (
            signers.ssh_key("release@example.test")?,
            signers.ssh_key("x")?,
        );
        let work = signers.clone_of(&repo)?;
        let level = |level: &str| [("app/settings.yaml", settings(level))];
        let push = |level_text: &str, key| {
            let files = level(level_text);
            let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
            work.commit(&files, level_text, key)
        };
        let signed = push("signed", Some(&key))?;

        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
        let trusted = serde_json::from_value(json!({
            "metadata": {"name": "trusted-keys"},
            "stringData": {"release.pub": key.public()}}))?;
        secrets.create(&PostParams::default(), &trusted).await?;
        let (_, stop) = controller(&ctx, POLL).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
        let mut app = application(&ns, "web", &url, json!({"automated": {"prune": true}}))?;
        app.spec.source.verify = Some(SourceVerification {
            mode: VerifyMode::Head,
            secret_ref: SecretReference {
                name: "trusted-keys".into(),
            },
        });
        apps.create(&PostParams::default(), &app).await?;
        until(&apps, "web", "the signed commit synced", |app| {
            at(app, &signed) && is_ready(app)
        })
        .await?;
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let level_now = || async {
            anyhow::Ok(maps.get("settings").await?.data.unwrap_or_default()["LEVEL"].clone())
        };
        ensure!(level_now().await? == "signed");

        // An unsigned head, then one signed by a key that is not trusted: refused, naming the
        // commit (and the signer); the signed commit stays deployed and status says so.
        for (text, by, words) in [
            ("unsigned", None, "is not signed".to_owned()),
            (
                "stranger",
                Some(&stranger),
                format!("is signed by SSH key {}", stranger.fingerprint()),
            ),
        ] {
            let refused = push(text, by)?;
            let app = until(&apps, "web", "the refusal in Ready", |app| {
                ready(app).is_some_and(|c| {
                    c.reason == Reason::VerificationFailed && c.message.contains(&refused)
                })
            })
            .await?;
            let message = ready(&app).map(|c| c.message.clone()).unwrap_or_default();
            ensure!(
                message.contains(&format!("commit {refused} {words}"))
                    && message.ends_with(&format!("; commit {signed} stays deployed")),
                "{message}"
            );
            ensure!(at(&app, &signed), "status moved off the signed commit");
            let stalled = app
                .status
                .as_ref()
                .and_then(|s| s.condition(ConditionType::Stalled));
            ensure!(
                stalled.is_some_and(|c| c.reason == Reason::VerificationFailed),
                "not Stalled: {:?}",
                app.status
            );
            let history = app
                .status
                .as_ref()
                .map(|s| s.history.clone())
                .unwrap_or_default();
            ensure!(history.last().map(|h| h.revision.as_str()) == Some(signed.as_str()));
            ensure!(
                level_now().await? == "signed",
                "a refused commit was applied"
            );
        }
        let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ns);
        let warned = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .any(|e| {
                e.reason.as_deref() == Some("VerificationFailed")
                    && e.type_.as_deref() == Some("Warning")
                    && e.note
                        .as_deref()
                        .is_some_and(|n| n.contains("is not signed"))
            });
        ensure!(warned, "no VerificationFailed warning Event");

        // The next signed head is deployed.
        let next = push("signed-again", Some(&key))?;
        until(&apps, "web", "the next signed commit synced", |app| {
            at(app, &next) && is_ready(app)
        })
        .await?;
        ensure!(level_now().await? == "signed-again");

        // A trusted-keys Secret with an entry that is no key stops the Application, naming the
        // Secret and the entry; nothing changes in the cluster.
        let broken = json!({"stringData": {"notes.txt": "ask the release team"}});
        secrets
            .patch("trusted-keys", &PatchParams::default(), &Patch::Merge(&broken))
            .await?;
        let refresh = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "keys"}}});
        apps.patch("web", &PatchParams::default(), &Patch::Merge(&refresh))
            .await?;
        let app = until(&apps, "web", "the unusable Secret in Ready", |app| {
            ready(app).is_some_and(|c| c.reason == Reason::VerificationFailed)
        })
        .await?;
        let message = ready(&app).map(|c| c.message.clone()).unwrap_or_default();
        ensure!(
            message.starts_with(&format!("the trusted keys of Secret {ns}/trusted-keys: entry \"notes.txt\": line 1: not an SSH public key")),
            "{message}"
        );
        ensure!(at(&app, &next) && level_now().await? == "signed-again");
        let _ = stop.send(());
        Ok(())
    })
    .await
}
