//! Against a control plane with the workload tier (controller-manager, scheduler, kwok): a whole
//! overlay — Namespace, CRD and custom resource, Deployment, Service, generated ConfigMap,
//! CronJob — applies and then diffs clean, also once controllers have filled in defaults and
//! status; health follows rollouts; waves wait for health.

mod common;

use std::time::Duration;

use capstan_api::HealthStatus;
use capstan_core::health::assess;
use capstan_testenv::{Tier, run};
use common::{api, capstan, eventually, expect_exit, get, show, write_dir};

const TIMEOUT: Duration = Duration::from_secs(90);

fn crd(group: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer, default: 3}}
              color: {{type: string}}
"
    )
}

fn deployment(name: &str, extra_spec: &str, pod_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2{extra_spec}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:{pod_extra}
      containers:
      - name: app
        image: registry.example.com/{name}:1.0
        envFrom:
        - configMapRef: {{name: settings}}
"
    )
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
";

fn cronjob(suspend: bool) -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: \"*/5 * * * *\"
  suspend: {suspend}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: registry.example.com/report:1.0
"
    )
}

#[tokio::test]
async fn an_overlay_applies_then_diffs_clean_before_and_after_controllers_fill_it_in()
-> anyhow::Result<()> {
    run(Tier::Workloads, "overlay-round-trip", |ctx| async move {
        let ns = format!("{}-web", ctx.namespace);
        let group = format!("{}.capstan.test", ctx.namespace);
        let widget = format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  color: blue\n");
        let base_kustomization = "resources:
- namespace.yaml
- crd.yaml
- widget.yaml
- deployment.yaml
- service.yaml
- cronjob.yaml
configMapGenerator:
- name: settings
  literals: [LOG_LEVEL=info]
";
        let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
        let dir = write_dir(&ctx, "repo", &[
            ("base/kustomization.yaml", base_kustomization),
            ("base/namespace.yaml", &namespace),
            ("base/crd.yaml", &crd(&group)),
            ("base/widget.yaml", &widget),
            ("base/deployment.yaml", &deployment("web", "", "")),
            ("base/service.yaml", SERVICE),
            ("base/cronjob.yaml", &cronjob(false)),
            ("overlays/prod/kustomization.yaml", "resources: [../../base]\nimages:\n- name: registry.example.com/web\n  newTag: \"1.1\"\nlabels:\n- pairs: {env: prod}\n"),
        ])?;
        let overlay = dir.join("overlays/prod");

        let before = expect_exit(&ctx, "diff", &overlay, &ns, &[], 1).await?;
        assert!(before.contains(&format!("desired/{group}/Widget {ns}/w")), "{before}");
        let applied = expect_exit(&ctx, "apply", &overlay, &ns, &[], 0).await?;
        for object in ["Namespace", "CustomResourceDefinition", "ConfigMap", "Service", "Deployment", "CronJob", "Widget"] {
            assert!(
                applied.lines().any(|l| l.contains(object) && l.ends_with(" created")),
                "{object} not created:\n{applied}"
            );
        }
        let diff = expect_exit(&ctx, "diff", &overlay, &ns, &[], 0).await?;
        assert!(diff.is_empty(), "{diff}");

        let deployments = api(&ctx, &ns, "apps", "v1", "Deployment", "deployments");
        eventually("web to become healthy", TIMEOUT, || async {
            let live = get(&deployments, "web").await?;
            Ok(live.filter(|l| assess(l).status == HealthStatus::Healthy))
        })
        .await?;
        let diff = expect_exit(&ctx, "diff", &overlay, &ns, &[], 0).await?;
        assert!(diff.is_empty(), "controllers' defaults or status shown as drift:\n{diff}");
        let again = expect_exit(&ctx, "apply", &overlay, &ns, &[], 0).await?;
        assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn health_follows_rollouts_deadlines_and_suspension() -> anyhow::Result<()> {
    run(Tier::Workloads, "health", |ctx| async move {
        let ns = ctx.namespace.clone();
        let settings =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  A: \"1\"\n";
        let stuck = deployment(
            "stuck",
            "\n  progressDeadlineSeconds: 2",
            "\n      nodeSelector: {capstan.test/no-such-node: \"true\"}",
        );
        let dir = write_dir(
            &ctx,
            "apps",
            &[
                ("settings.yaml", settings),
                ("web.yaml", &deployment("web", "", "")),
                ("stuck.yaml", &stuck),
                ("cronjob.yaml", &cronjob(true)),
            ],
        )?;
        expect_exit(&ctx, "apply", &dir, &ns, &[], 0).await?;
        let deployments = api(&ctx, &ns, "apps", "v1", "Deployment", "deployments");
        let seen = std::sync::Mutex::new(Vec::new());
        eventually("web to become healthy", TIMEOUT, || async {
            let status = get(&deployments, "web").await?.map(|l| assess(&l).status);
            let mut seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if seen.last() != status.as_ref() {
                seen.extend(status);
            }
            Ok((status == Some(HealthStatus::Healthy)).then_some(()))
        })
        .await?;
        let seen = seen.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
        assert_eq!(seen.first(), Some(&HealthStatus::Progressing), "{seen:?}");
        let degraded = eventually("stuck to pass its progress deadline", TIMEOUT, || async {
            let health = get(&deployments, "stuck").await?.map(|l| assess(&l));
            Ok(health.filter(|h| h.status == HealthStatus::Degraded))
        })
        .await?;
        assert!(
            degraded.message.contains("deadline"),
            "{}",
            degraded.message
        );
        let cronjobs = api(&ctx, &ns, "batch", "v1", "CronJob", "cronjobs");
        let report = get(&cronjobs, "report").await?.expect("report exists");
        assert_eq!(assess(&report).status, HealthStatus::Suspended);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_wave_starts_only_when_the_previous_one_is_healthy() -> anyhow::Result<()> {
    run(Tier::Workloads, "waves", |ctx| async move {
        let ns = ctx.namespace.clone();
        let later = |name: &str| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    capstan.dev/sync-wave: \"1\"\ndata:\n  A: \"1\"\n")
        };
        let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  A: \"1\"\n";
        let dir = write_dir(&ctx, "ok", &[
            ("settings.yaml", settings),
            ("web.yaml", &deployment("web", "", "")),
            ("later.yaml", &later("after-web")),
        ])?;
        let app = format!("{ns}/waves");
        let mark = ctx.audit()?.mark();
        let out = expect_exit(&ctx, "apply", &dir, &ns, &["--app-id", &app], 0).await?;
        let order: Vec<&str> = out.lines().collect();
        assert!(order.last().is_some_and(|l| l.contains("after-web")), "{out}");
        let requests = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
        assert!(
            requests.count(|e| e.is_watch()) >= 1,
            "the wait for wave 0 did not watch:\n{requests}"
        );
        let deployments = api(&ctx, &ns, "apps", "v1", "Deployment", "deployments");
        let web = get(&deployments, "web").await?.expect("web exists");
        assert_eq!(assess(&web).status, HealthStatus::Healthy, "wave 1 ran before wave 0 was healthy");

        let stuck = deployment(
            "stuck",
            "",
            "\n      nodeSelector: {capstan.test/no-such-node: \"true\"}",
        );
        let blocked = write_dir(&ctx, "blocked", &[
            ("settings.yaml", settings),
            ("stuck.yaml", &stuck),
            ("later.yaml", &later("after-stuck")),
        ])?;
        let (code, stdout, stderr) =
            show(&capstan(&ctx, "apply", &blocked, &ns, &["--app-id", &app, "--wave-timeout", "3s"]).await?);
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(stderr.contains("wave 0 is not healthy") && stderr.contains("stuck"), "{stderr}");
        let cms = api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
        assert!(get(&cms, "after-stuck").await?.is_none(), "wave 1 ran after an unhealthy wave 0");
        Ok(())
    })
    .await
}
