//! `capstan diff --app NAME` as a user runs it, against the real API server and a private git
//! repository: an Application the real `capstan controller` synced shows no difference (exit 0);
//! a field changed by hand shows (exit 1); a commit not synced yet shows, with what it would
//! prune; a missing Application is named; a user who may not read the Application's Secret is
//! told so; a Secret name that climbs into another namespace reads nothing there — and Secret
//! values never appear.

mod common;

use capstan_testenv::{Content, Tier, run};
use common::app::{
    commit, create_application, install_crd, private_repository, spawn_controller, stop_controller,
    until_synced,
};
use common::{changed_lines, show};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const PASSWORD: &str = "hunter2-in-git";

fn settings(level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LEVEL: {level}\n"
    )
}

fn legacy() -> String {
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\ndata:\n  OLD: \"yes\"\n".into()
}

fn secret(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {password}\n"
    )
}

/// `capstan diff --app <name> -n <ns>` with `kubeconfig` (default: the test's Capstan
/// identity): exit code, stdout, stderr.
async fn diff_app(
    ctx: &capstan_testenv::TestContext,
    name: &str,
    kubeconfig: Option<&std::path::Path>,
) -> anyhow::Result<(i32, String, String)> {
    let kubeconfig = kubeconfig.unwrap_or(&ctx.capstan_kubeconfig);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["diff", "--app", name, "-n", &ctx.namespace, "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .await?;
    let shown = show(&output);
    for text in [&shown.1, &shown.2] {
        assert!(
            !text.contains(PASSWORD),
            "a Secret value was printed:\n{text}"
        );
    }
    Ok(shown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_app_shows_what_a_sync_of_the_application_would_change_and_nothing_once_synced()
-> anyhow::Result<()> {
    run(Tier::ApiServer, "diff-app", |ctx| async move {
        let ns = ctx.namespace.clone();
        install_crd(&ctx.client).await?;
        let files = [
            ("settings.yaml", settings("info")),
            ("legacy.yaml", legacy()),
            ("db.yaml", secret(PASSWORD)),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let repo = private_repository(&ctx, &files).await?;
        create_application(&ctx, "web", &repo.url, json!({})).await?;
        let controller =
            spawn_controller(&ctx, &ctx.capstan_kubeconfig, common::free_port()?, &[])?;
        until_synced(&ctx, "web", &repo.first).await?;
        // No controller from here on: nothing heals or syncs behind the diffs' backs.
        stop_controller(&ctx, controller).await?;

        let (code, stdout, stderr) = diff_app(&ctx, "web", None).await?;
        assert_eq!(code, 0, "a synced application differs:\n{stdout}{stderr}");
        assert!(stdout.is_empty(), "{stdout}");

        let config_maps = common::api(&ctx, &ns, "", "v1", "ConfigMap", "configmaps");
        let by_hand = json!({"data": {"LEVEL": "debug"}});
        config_maps
            .patch("settings", &PatchParams::default(), &Patch::Merge(&by_hand))
            .await?;
        let (code, stdout, stderr) = diff_app(&ctx, "web", None).await?;
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(stdout.contains("--- live/ConfigMap "), "{stdout}");
        assert_eq!(
            changed_lines(&stdout),
            ["-  LEVEL: debug", "+  LEVEL: info"],
            "{stdout}"
        );

        let next = settings("warn");
        let changes = [
            ("settings.yaml", Content::File(&next)),
            ("legacy.yaml", Content::Delete),
        ];
        commit(&repo.dir, &changes, "warn, and no legacy")?;
        let (code, stdout, stderr) = diff_app(&ctx, "web", None).await?;
        assert_eq!(code, 1, "{stdout}{stderr}");
        let lines = changed_lines(&stdout);
        assert!(lines.contains(&"+  LEVEL: warn".to_owned()), "{stdout}");
        assert!(
            stdout.contains(&format!("--- live/ConfigMap {ns}/legacy")),
            "the object a sync would prune is not shown:\n{stdout}"
        );
        assert!(lines.contains(&"-  OLD: \"yes\"".to_owned()), "{stdout}");
        assert!(
            !stdout.contains("Secret"),
            "an unchanged Secret is shown:\n{stdout}"
        );

        let (code, _, stderr) = diff_app(&ctx, "absent", None).await?;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("application {ns}/absent not found")),
            "{stderr}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_app_reads_as_the_user_and_names_the_secret_a_user_may_not_read() -> anyhow::Result<()>
{
    run(Tier::ApiServer, "diff-app-user", |ctx| async move {
        let ns = ctx.namespace.clone();
        install_crd(&ctx.client).await?;
        let level = settings("info");
        let repo = private_repository(&ctx, &[("settings.yaml", &level)]).await?;
        create_application(&ctx, "web", &repo.url, json!({})).await?;

        // A user who may read the Application and dry-run ConfigMaps (a dry-run of a missing object
        // is a create), but not read Secrets.
        let user = format!("diff-user:{ns}");
        let env = capstan_testenv::shared(Tier::ApiServer).await?;
        let kubeconfig = env.identity(&user, None)?;
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "diff-user"},
        "rules": [
            {"apiGroups": ["capstan.dev"], "resources": ["applications"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["configmaps"],
                "verbs": ["get", "list", "create", "patch"]},
        ]});
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding", "metadata": {"name": "diff-user"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                "name": "diff-user"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                "name": user}]});
        let setup = PatchParams::apply("test-setup");
        let rbac = |kind: &str, plural: &str| {
            common::api(&ctx, &ns, "rbac.authorization.k8s.io", "v1", kind, plural)
        };
        rbac("Role", "roles")
            .patch("diff-user", &setup, &Patch::Apply(&role))
            .await?;
        rbac("RoleBinding", "rolebindings")
            .patch("diff-user", &setup, &Patch::Apply(&binding))
            .await?;

        let (code, stdout, stderr) = diff_app(&ctx, "web", Some(&kubeconfig)).await?;
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "application {ns}/web: cannot read Secret {ns}/repo"
            )) && stderr.contains("forbidden"),
            "{stderr}"
        );

        // With the Secret readable, the same user sees what a sync would create.
        let secrets = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "diff-user"},
        "rules": [
            {"apiGroups": ["capstan.dev"], "resources": ["applications"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["configmaps"],
                "verbs": ["get", "list", "create", "patch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                "resourceNames": ["repo"]},
        ]});
        rbac("Role", "roles")
            .patch("diff-user", &setup, &Patch::Apply(&secrets))
            .await?;
        let (code, stdout, stderr) = diff_app(&ctx, "web", Some(&kubeconfig)).await?;
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(stdout.contains("+  LEVEL: info"), "{stdout}");
        let audit = ctx.audit()?.by_user(&user);
        assert!(
            audit.count(|e| e.is_write()) == 0,
            "the diff wrote:\n{audit}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_app_never_reads_a_secret_of_another_namespace() -> anyhow::Result<()> {
    run(Tier::ApiServer, "diff-app-elsewhere", |ctx| async move {
        let ns = ctx.namespace.clone();
        install_crd(&ctx.client).await?;
        let level = settings("info");
        let repo = private_repository(&ctx, &[("settings.yaml", &level)]).await?;
        // The repository's credentials, in another namespace only.
        let other = format!("{ns}-other");
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        let namespace = serde_json::from_value(json!({"metadata": {"name": other}}))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await?;
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
        let theirs: Api<Secret> = Api::namespaced(ctx.client.clone(), &other);
        let moved = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("repo".into()),
                ..Default::default()
            },
            data: secrets.get("repo").await?.data,
            ..Default::default()
        };
        theirs.create(&PostParams::default(), &moved).await?;
        secrets.delete("repo", &DeleteParams::default()).await?;

        // A name is all a secretRef holds; one that climbs into the other namespace is refused.
        let climbing = format!("../../{other}/secrets/repo");
        let spec = json!({"source": {"secretRef": {"name": climbing}}});
        create_application(&ctx, "web", &repo.url, spec).await?;
        let (code, stdout, stderr) = diff_app(&ctx, "web", None).await?;
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "application {ns}/web: cannot read Secret {ns}/{climbing}"
            )),
            "{stderr}"
        );
        let read = ctx.audit()?.by_user(&ctx.capstan_user).in_namespace(&other);
        assert!(read.is_empty(), "read in {other}:\n{read}");
        namespaces
            .delete(&other, &DeleteParams::background())
            .await?;
        Ok(())
    })
    .await
}
