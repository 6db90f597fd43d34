//! The controller's own identity has only the rights `deploy/rbac/` grants, and they are enough:
//! the real `capstan controller` runs as a user bound to exactly the ClusterRole of
//! `deploy/rbac/controller.yaml` (the file itself, applied), with `--default-service-account
//! deployer`; the Application becomes Synced and Healthy; the audit log shows every write to a
//! managed object made as the deployer service account, none as the controller; and the
//! controller's identity is refused when it writes a ConfigMap or a Deployment itself.

mod common;

use capstan_testenv::{AuditEvent, TestContext, Tier, client_from, run};
use common::app::{
    TIMEOUT, applications, create_application, install_crd, private_repository, repository_file,
    spawn_controller, stop_controller, until_synced,
};
use common::{capstan_cmd, eventually, show};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.example.com/web:1.0\n";

const SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LEVEL: info\n";

/// Every document of `deploy/rbac/<file>`.
fn rbac_documents(file: &str) -> anyhow::Result<Vec<Value>> {
    let path = repository_file(&format!("deploy/rbac/{file}"));
    let text = std::fs::read_to_string(&path)?;
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// Applies `object` (server-side, as the admin) through the API its `apiVersion` and `kind` name.
async fn apply(ctx: &TestContext, object: &Value) -> anyhow::Result<()> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let plural = format!("{}s", kind.to_lowercase());
    let namespace = object["metadata"]["namespace"].as_str();
    let api: Api<DynamicObject> = match namespace {
        Some(namespace) => {
            capstan_testenv::api_for(&ctx.client, namespace, api_version, kind, &plural)
        }
        None => {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let resource = kube::discovery::ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.into(),
                kind: kind.into(),
                plural,
            };
            Api::all_with(ctx.client.clone(), &resource)
        }
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let params = PatchParams::apply("capstan-test").force();
    api.patch(name, &params, &Patch::Apply(object)).await?;
    Ok(())
}

/// A ServiceAccount `deployer` in the test's namespace, allowed to write ConfigMaps and
/// Deployments there (and nothing else).
async fn deployer(ctx: &TestContext) -> anyhow::Result<()> {
    let ns = &ctx.namespace;
    let rbac = "rbac.authorization.k8s.io/v1";
    for object in [
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": ns}}),
        json!({"apiVersion": rbac, "kind": "Role",
        "metadata": {"name": "deployer", "namespace": ns},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["apps"], "resources": ["deployments"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        ]}),
        json!({"apiVersion": rbac, "kind": "RoleBinding",
            "metadata": {"name": "deployer", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}),
    ] {
        apply(ctx, &object).await?;
    }
    Ok(())
}

/// Whether the request is about a ConfigMap or a Deployment of the test's namespace.
fn managed(event: &AuditEvent, namespace: &str) -> bool {
    event.namespace() == Some(namespace)
        && matches!(event.resource(), Some("configmaps" | "deployments"))
}

/// What the controller does with its own rights: the Application becomes Synced and Healthy (its
/// finalizer added, status written); a requested sync runs (the request taken off the
/// Application); the Application deleted, its objects are pruned and the finalizer removed.
async fn sync_request_and_deletion(ctx: &TestContext, commit: &str) -> anyhow::Result<()> {
    let ns = &ctx.namespace;
    let first = until_synced(ctx, "web", commit).await?;
    let finalizers = &first["metadata"]["finalizers"];
    anyhow::ensure!(
        finalizers == &json!(["capstan.dev/cleanup"]),
        "finalizers: {finalizers}"
    );
    let output = capstan_cmd(
        ctx,
        &["sync", "web", "-n", ns, "--wait", "--timeout", "60s"],
    )
    .output()
    .await?;
    let (code, stdout, stderr) = show(&output);
    anyhow::ensure!(code == 0, "capstan sync exited {code}:\n{stdout}{stderr}");

    let apps = applications(ctx);
    apps.delete("web", &DeleteParams::default()).await?;
    let config_maps = common::api(ctx, ns, "", "v1", "ConfigMap", "configmaps");
    eventually(
        "the Application and its ConfigMap deleted",
        TIMEOUT,
        || async {
            let app = common::get(&apps, "web").await?;
            let settings = common::get(&config_maps, "settings").await?;
            Ok((app.is_none() && settings.is_none()).then_some(()))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_syncs_with_only_the_shipped_cluster_role_and_writes_as_the_deployer()
-> anyhow::Result<()> {
    run(Tier::Workloads, "least-privilege", |ctx| async move {
        let ns = ctx.namespace.clone();
        install_crd(&ctx.client).await?;
        let mut cluster_role = None;
        for file in ["controller.yaml", "leader-election.yaml"] {
            for document in rbac_documents(file)? {
                apply(&ctx, &document).await?;
                if document["kind"] == "ClusterRole" {
                    cluster_role = document["metadata"]["name"].as_str().map(str::to_owned);
                }
            }
        }
        let cluster_role =
            cluster_role.ok_or_else(|| anyhow::anyhow!("no ClusterRole in deploy/rbac"))?;
        // The shipped Lease Role, bound in the test's namespace (where this controller keeps its
        // Leases) to the controller's user.
        let leases = rbac_documents("leader-election.yaml")?;

        // The controller's identity: a user in no group, bound to exactly that ClusterRole.
        let user = format!("capstan-controller:{ns}");
        let env = capstan_testenv::shared(Tier::Workloads).await?;
        let kubeconfig = env.identity(&user, None)?;
        apply(
            &ctx,
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding", "metadata": {"name": format!("capstan-controller-{ns}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": cluster_role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
        )
        .await?;
        for mut document in leases {
            document["metadata"]["namespace"] = json!(ns);
            if document["kind"] == "RoleBinding" {
                document["subjects"] = json!([{"apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User", "name": user}]);
            }
            apply(&ctx, &document).await?;
        }
        deployer(&ctx).await?;

        let repo = private_repository(
            &ctx,
            &[("settings.yaml", SETTINGS), ("deployment.yaml", DEPLOYMENT)],
        )
        .await?;
        let mark = ctx.audit()?.mark();
        let controller = spawn_controller(
            &ctx,
            &kubeconfig,
            common::free_port()?,
            &["--default-service-account", "deployer"],
        )?;
        create_application(&ctx, "web", &repo.url, json!({})).await?;
        let lifecycle = sync_request_and_deletion(&ctx, &repo.first).await;
        let stderr = stop_controller(&ctx, controller).await?;
        lifecycle.map_err(|err| anyhow::anyhow!("{err:#}\ncontroller stderr:\n{stderr}"))?;

        let controller_requests = ctx.audit()?.since(mark).by_user(&user);
        let deployer_account = format!("system:serviceaccount:{ns}:deployer");
        let writes = controller_requests
            .clone()
            .filter(|e| managed(e, &ns) && (e.is_write() || e.is_dry_run()));
        assert!(
            writes.count(|e| e.is_write()) >= 2,
            "the ConfigMap and the Deployment were not written:\n{controller_requests}"
        );
        let not_as_deployer = writes.filter(|e| e.acting_user() != deployer_account);
        assert!(
            not_as_deployer.is_empty(),
            "writes to managed objects not made as {deployer_account}:\n{not_as_deployer}"
        );
        let own_writes = controller_requests
            .filter(|e| e.impersonated_user.is_none() && (e.is_write() || e.is_dry_run()));
        let allowed = |e: &AuditEvent| {
            matches!(e.resource(), Some("applications" | "events"))
                || (e.resource() == Some("leases") && e.namespace() == Some(ns.as_str()))
        };
        let other = own_writes.clone().filter(|e| !allowed(e));
        assert!(
            other.is_empty(),
            "the controller wrote as itself beyond Applications, Events and its Leases:\n{other}"
        );
        assert!(
            own_writes.count(|e| e.code() == Some(403)) == 0,
            "the controller was refused a write of its own:\n{own_writes}"
        );

        // As itself, the controller may not write what it manages.
        let own = client_from(&kubeconfig).await?;
        let config_maps: Api<DynamicObject> =
            capstan_testenv::api_for(&own, &ns, "v1", "ConfigMap", "configmaps");
        let deployments: Api<DynamicObject> =
            capstan_testenv::api_for(&own, &ns, "apps/v1", "Deployment", "deployments");
        let change = Patch::Merge(json!({"metadata": {"labels": {"changed": "by-hand"}}}));
        let new_config_map =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "intruder"}}))?;
        let new_deployment = serde_json::from_value(serde_saphyr::from_str::<Value>(
            &DEPLOYMENT.replace("name: web\nspec", "name: intruder\nspec"),
        )?)?;
        let refusals = [
            (
                "create ConfigMap",
                config_maps
                    .create(&PostParams::default(), &new_config_map)
                    .await
                    .err(),
            ),
            (
                "patch ConfigMap",
                config_maps
                    .patch("settings", &PatchParams::default(), &change)
                    .await
                    .err(),
            ),
            (
                "create Deployment",
                deployments
                    .create(&PostParams::default(), &new_deployment)
                    .await
                    .err(),
            ),
            (
                "patch Deployment",
                deployments
                    .patch("web", &PatchParams::default(), &change)
                    .await
                    .err(),
            ),
        ];
        for (what, refused) in refusals {
            let forbidden = matches!(&refused, Some(kube::Error::Api(s)) if s.code == 403);
            assert!(forbidden, "{what} as the controller: {refused:?}");
        }
        let bindings: Api<ClusterRoleBinding> = Api::all(ctx.client.clone());
        bindings
            .delete(
                &format!("capstan-controller-{ns}"),
                &DeleteParams::default(),
            )
            .await?;
        Ok(())
    })
    .await
}
