//! `capstan controller` as a user runs it, against the real API server and git server: an
//! Application becomes Ready (`kubectl wait --for=condition=Ready` returns), `capstan get
//! applications` shows it Synced and Healthy, the HTTP endpoints answer, and SIGTERM stops the
//! process cleanly.

mod common;

use std::time::Duration;

use capstan_testenv::{Content, Tier, run};
use common::{app, capstan_cmd, eventually, free_port, http_get};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_syncs_an_application_serves_its_endpoints_and_stops_on_sigterm()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "controller-binary", |ctx| async move {
        let ns = ctx.namespace.clone();
        let cm =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LEVEL: info\n";
        let files = [("app/settings.yaml", Content::File(cm))];
        let policy = json!({"automated": {"prune": true}});
        app::install_crd(&ctx.client).await?;
        let repo = app::private_repository_of(&ctx, &files).await?;
        app::create_application(&ctx, "web", &repo.url, json!({"syncPolicy": policy})).await?;
        let sha = repo.first;
        let port = free_port()?;
        let controller = app::spawn_controller(&ctx, &ctx.capstan_kubeconfig, port, &[])?;

        // kstatus conditions: `kubectl wait` works on an Application as on any workload.
        let waited = tokio::process::Command::new(capstan_testenv::binaries::kubectl())
            .arg("--kubeconfig")
            .arg(&ctx.capstan_kubeconfig)
            .args([
                "wait",
                "--for=condition=Ready",
                "applications.capstan.dev/web",
            ])
            .args(["-n", &ns, "--timeout=60s"])
            .output()
            .await?;
        assert!(
            waited.status.success(),
            "kubectl wait: {}",
            String::from_utf8_lossy(&waited.stderr)
        );
        let get = || async {
            let output = capstan_cmd(&ctx, &["get", "applications", "-n", &ns])
                .output()
                .await?;
            Ok::<_, anyhow::Error>(String::from_utf8_lossy(&output.stdout).into_owned())
        };
        let table = eventually(
            "the Application to be Synced and Healthy",
            Duration::from_secs(60),
            || async {
                let table = get().await?;
                Ok(table
                    .contains("Synced")
                    .then_some(table)
                    .filter(|t| t.contains("Healthy")))
            },
        )
        .await?;
        assert!(table.contains(&sha[..7]), "{table}");

        for path in ["/healthz", "/readyz"] {
            let response = http_get(port, path).await?;
            let first = response.lines().next().unwrap_or_default();
            assert!(first.contains(" 200 "), "{path}: {response}");
        }
        let metrics = http_get(port, "/metrics").await?;
        let counted = |prefix: &str| {
            metrics.lines().filter(|l| l.starts_with(prefix)).any(|l| {
                l.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= 1.0)
            })
        };
        assert!(
            counted("capstan_reconciles_total{result=\"success\""),
            "{metrics}"
        );
        assert!(
            counted("capstan_apply_results_total{action=\"created\"}"),
            "{metrics}"
        );
        for series in [
            "capstan_git_checks_total{result=\"success\"",
            "capstan_git_fetches_total{result=\"success\"",
        ] {
            assert!(counted(series), "{metrics}");
        }
        let synced_healthy = "capstan_applications{sync=\"Synced\",health=\"Healthy\"} 1";
        eventually(
            "the Applications gauge",
            Duration::from_secs(30),
            || async {
                let metrics = http_get(port, "/metrics").await?;
                Ok(metrics.lines().any(|l| l == synced_healthy).then_some(()))
            },
        )
        .await?;

        app::stop_controller(&ctx, controller).await?;
        Ok(())
    })
    .await
}
