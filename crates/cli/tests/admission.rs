//! The classic false OutOfSync: a mutating admission webhook (like GKE Autopilot's) raises CPU
//! requests and adds an annotation. Because Capstan compares against a server-side-apply
//! dry-run — which passes through the same webhook — the mutation is not drift; a real change
//! (the image) is reported, and only that.

mod common;

use capstan_testenv::webhook::MutatingWebhook;
use capstan_testenv::{Tier, run};
use common::{api, changed_lines, expect_exit, get, write_dir};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
        resources:
          requests: {{cpu: 10m, memory: 64Mi}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the webhook must serve while capstan runs
async fn admission_mutations_are_not_drift_and_a_real_change_is_the_only_line_reported()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "admission-mutation", |ctx| async move {
        let ns = ctx.namespace.clone();
        let label = ("capstan.dev/test-autopilot", ns.as_str());
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        let labels = json!({"metadata": {"labels": {label.0: label.1}}});
        namespaces
            .patch(&ns, &PatchParams::default(), &Patch::Merge(&labels))
            .await?;
        let webhook =
            MutatingWebhook::start(&ctx.client, &format!("autopilot-{ns}"), label, 250).await?;

        let dir = write_dir(
            &ctx,
            "v1",
            &[("deployment.yaml", &deployment("nginx:1.25"))],
        )?;
        let app = ["--app-id", "capstan/web"];
        expect_exit(&ctx, "apply", &dir, &ns, &app, 0).await?;
        let deployments = api(&ctx, &ns, "apps", "v1", "Deployment", "deployments");
        let live = get(&deployments, "web").await?.expect("web exists");
        let container = &live["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["resources"]["requests"]["cpu"], "250m",
            "webhook did not mutate"
        );
        assert!(
            live["metadata"]["annotations"][capstan_testenv::webhook::ADJUSTMENT_ANNOTATION]
                .is_string()
        );

        let diff = expect_exit(&ctx, "diff", &dir, &ns, &app, 0).await?;
        assert!(diff.is_empty(), "{diff}");
        // kubectl gets exactly what Capstan applies: the same manifest with the tracking id and
        // the ownership label, as the same field manager.
        let label = capstan_api::app_label_value("capstan/web");
        let tracked = deployment("nginx:1.25").replace(
            "  name: web\n",
            &format!(
                "  name: web\n  labels:\n    capstan.dev/app: \"{label}\"\n  annotations:\n    capstan.dev/tracking-id: \"capstan/web:apps/Deployment:{ns}/web\"\n"
            ),
        );
        let kubectl_dir = write_dir(&ctx, "kubectl", &[("deployment.yaml", &tracked)])?;
        let kubectl = tokio::process::Command::new(capstan_testenv::binaries::kubectl())
            .args([
                "diff",
                "--server-side",
                "--field-manager=capstan",
                "--force-conflicts",
            ])
            .args(["-n", &ns, "--kubeconfig"])
            .arg(&ctx.admin_kubeconfig)
            .arg("-f")
            .arg(kubectl_dir.join("deployment.yaml"))
            .output()
            .await?;
        assert_eq!(
            kubectl.status.code(),
            Some(0),
            "kubectl diff --server-side disagrees:\n{}{}",
            String::from_utf8_lossy(&kubectl.stdout),
            String::from_utf8_lossy(&kubectl.stderr)
        );

        let changed = write_dir(
            &ctx,
            "v2",
            &[("deployment.yaml", &deployment("nginx:1.26"))],
        )?;
        let diff = expect_exit(&ctx, "diff", &changed, &ns, &app, 1).await?;
        let lines = changed_lines(&diff);
        assert_eq!(lines.len(), 2, "{diff}");
        assert!(
            lines[0].starts_with('-') && lines[0].trim_end().ends_with("image: nginx:1.25"),
            "{diff}"
        );
        assert!(
            lines[1].starts_with('+') && lines[1].trim_end().ends_with("image: nginx:1.26"),
            "{diff}"
        );
        webhook.stop(&ctx.client).await?;
        Ok(())
    })
    .await
}
