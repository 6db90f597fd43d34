//! A sync request waits while it cannot run — a suspended Application keeps its `operation` —
//! and runs, with its own sync options, once it can.

mod common;

use capstan_api::OperationPhase;
use capstan_api::application::Application;
use capstan_testenv::{Tier, run};
use common::*;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_while_suspended_then_runs_with_its_own_sync_options() -> anyhow::Result<()>
{
    run(
        Tier::ApiServer,
        "controller-request-waits",
        |ctx| async move {
            let ns = ctx.namespace.clone();
            let made = format!("{ns}-made");
            let (_, url, _, stop) =
                repository_and_controller(&ctx, &[("settings.yaml", &settings("info"))]).await?;
            let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
            let mut app = application(&ns, "web", &url, json!(null))?;
            app.spec.suspend = true;
            app.spec.destination.namespace = Some(made.clone());
            apps.create(&PostParams::default(), &app).await?;
            let request = json!({"operation": {"initiatedBy": {"username": "jane"},
            "sync": {"syncOptions": ["CreateNamespace=true"]}}});
            apps.patch("web", &PatchParams::default(), &Patch::Merge(&request))
                .await?;
            let suspended = until(&apps, "web", "suspended", |app| {
                ready(app).is_some_and(|c| c.reason == capstan_api::Reason::Suspended)
            })
            .await?;
            // Regression: a request seen while suspended was taken off without running.
            assert!(suspended.operation.is_some(), "the request was dropped");

            let resume = json!({"spec": {"suspend": false}});
            apps.patch("web", &PatchParams::default(), &Patch::Merge(&resume))
                .await?;
            let done = until(&apps, "web", "the request run", |app| {
                let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
                app.operation.is_none()
                    && state.is_some_and(|s| s.phase == OperationPhase::Succeeded)
            })
            .await?;
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
                Api::all(ctx.client.clone());
            // Regression: the request's own sync options were recorded but not applied.
            assert!(
                namespaces.get_opt(&made).await?.is_some(),
                "CreateNamespace=true not applied"
            );
            let history = done.status.map(|s| s.history).unwrap_or_default();
            assert_eq!(history.len(), 1);
            let _ = namespaces.delete(&made, &Default::default()).await;
            let _ = stop.send(());
            Ok(())
        },
    )
    .await
}
