//! The workload tier: kube-controller-manager and kube-scheduler (serving HTTPS with the control
//! plane's certificate, so their `/healthz` is checked with verified TLS), and kwok managing one
//! fake Node, so Deployments roll out and their pods become Ready without a kubelet. Each runs as
//! an identity of its own (a client certificate in `system:masters`), so their requests are never
//! mistaken for the harness's or a test's, and the audit policy leaves them out.

use std::path::Path;

use k8s_openapi::api::core::v1::Node;
use kube::api::PostParams;

use crate::certs::{Pki, write};
use crate::control_plane::{MASTERS, STARTUP_TIMEOUT};
use crate::kubeconfig::{Credentials, client_from, write_identity, write_kubeconfig};
use crate::process::Component;
use crate::ready::{free_port, http_ok, https_ok, wait_until};
use crate::{Error, binaries};

/// The name of the fake node kwok manages.
pub const NODE_NAME: &str = "kwok-node-0";

/// Client rate limits and worker counts of kube-controller-manager and kube-scheduler, raised far
/// above their defaults (20 QPS, burst 30; 5 Deployment and ReplicaSet workers; the scheduler's
/// 50 QPS) so that a rollout of hundreds of pods is bound by the API server, not by a client-side
/// limiter: the same values kwokctl uses for its benchmarks ("unlimited" QPS 5000, burst 10000).
const CLIENT_LIMITS: [&str; 2] = ["--kube-api-qps=5000", "--kube-api-burst=10000"];

/// Workers per controller of kube-controller-manager for the objects a rollout touches.
const KCM_WORKERS: [&str; 4] = [
    "--concurrent-deployment-syncs=20",
    "--concurrent-replicaset-syncs=20",
    "--concurrent-service-endpoint-syncs=20",
    "--concurrent-gc-syncs=40",
];

/// kwok's stage definitions: how the fake node and the pods scheduled onto it change state.
const STAGES: &str = include_str!("kwok-stages.yaml");

/// Starts kube-controller-manager, kube-scheduler and kwok, registers the fake node and waits
/// until kwok reports it Ready.
pub async fn start(
    dir: &Path,
    pki: &Pki,
    server: &str,
    admin_kubeconfig: &Path,
    components: &mut Vec<Component>,
) -> Result<(), Error> {
    let identity = |user| write_identity(dir, server, pki, user, Some(MASTERS));
    let kubeconfig_flags = |kubeconfig: &Path| {
        ["", "authentication-", "authorization-"]
            .map(|kind| format!("--{kind}kubeconfig={}", kubeconfig.display()))
    };
    let tls = [
        "--leader-elect=false".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
    ];
    let mut kcm_extra = kubeconfig_flags(&identity("system:kube-controller-manager")?).to_vec();
    kcm_extra.extend([
        format!(
            "--service-account-private-key-file={}",
            pki.sa_key.display()
        ),
        format!("--root-ca-file={}", pki.ca_cert.display()),
    ]);
    kcm_extra.extend(
        CLIENT_LIMITS
            .iter()
            .chain(&KCM_WORKERS)
            .map(|f| (*f).to_owned()),
    );
    start_secure(
        "kube-controller-manager",
        dir,
        pki,
        &tls,
        &kcm_extra,
        components,
    )
    .await?;
    let mut scheduler_extra = kubeconfig_flags(&identity("system:kube-scheduler")?).to_vec();
    scheduler_extra.extend(CLIENT_LIMITS.map(str::to_owned));
    start_secure(
        "kube-scheduler",
        dir,
        pki,
        &tls,
        &scheduler_extra,
        components,
    )
    .await?;
    start_kwok(dir, &identity("system:kwok")?, components).await?;
    register_node(admin_kubeconfig, components).await
}

/// Starts a component that serves `/healthz` over HTTPS on a port of its own.
async fn start_secure(
    name: &'static str,
    dir: &Path,
    pki: &Pki,
    common: &[String],
    extra: &[String],
    components: &mut Vec<Component>,
) -> Result<(), Error> {
    let binary = binaries::require(name)?;
    let port = free_port()?;
    let mut args = common.to_vec();
    args.extend_from_slice(extra);
    args.push(format!("--secure-port={port}"));
    let mut component = Component::spawn(name, &binary, &args, dir.join(format!("{name}.log")))?;
    let endpoint = write_kubeconfig(
        &dir.join(format!("{name}-healthz.kubeconfig")),
        &format!("https://127.0.0.1:{port}"),
        &pki.ca_cert,
        "anonymous",
        Credentials::Anonymous,
    )?;
    let client = client_from(&endpoint).await?;
    wait_until(&mut component, STARTUP_TIMEOUT, "GET /healthz", || {
        https_ok(&client, "/healthz")
    })
    .await?;
    components.push(component);
    Ok(())
}

/// Starts kwok with Capstan's stages, managing nodes annotated `kwok.x-k8s.io/node: fake`.
async fn start_kwok(
    dir: &Path,
    kubeconfig: &Path,
    components: &mut Vec<Component>,
) -> Result<(), Error> {
    let binary = binaries::require("kwok")?;
    let stages = dir.join("kwok-stages.yaml");
    write(&stages, STAGES)?;
    let workdir = dir.join("kwok");
    std::fs::create_dir_all(&workdir).map_err(|source| Error::Prepare {
        what: workdir.display().to_string(),
        source,
    })?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".to_owned(),
        format!("--config={}", stages.display()),
        format!("--server-address={addr}"),
        // Addresses from documentation and benchmarking ranges: they only ever appear in object
        // status, nothing connects to them.
        "--node-ip=192.0.2.10".to_owned(),
        "--cidr=198.18.0.0/16".to_owned(),
        // kwok renews the node's Lease, so the node lifecycle controller keeps it Ready.
        "--node-lease-duration-seconds=40".to_owned(),
    ];
    // kwok also reads `$KWOK_WORKDIR/kwok.yaml`; point it at an empty directory of our own.
    let mut kwok = Component::spawn_with_env(
        "kwok",
        &binary,
        &args,
        dir.join("kwok.log"),
        &[("KWOK_WORKDIR", workdir.as_os_str())],
    )?;
    wait_until(&mut kwok, STARTUP_TIMEOUT, "GET /healthz", || {
        http_ok(&addr, "/healthz")
    })
    .await?;
    components.push(kwok);
    Ok(())
}

/// Creates the fake node (status is accepted on create for nodes) and waits until kwok has
/// marked it Ready.
async fn register_node(admin_kubeconfig: &Path, components: &mut [Component]) -> Result<(), Error> {
    let client = client_from(admin_kubeconfig).await?;
    let nodes = kube::Api::<Node>::all(client);
    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": { "cpu": "1000", "memory": "4Ti", "pods": "10000" },
            "capacity": { "cpu": "1000", "memory": "4Ti", "pods": "10000" },
            "addresses": [{ "type": "InternalIP", "address": "192.0.2.10" }],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": binaries::kubernetes_version(),
            },
        },
    }))
    .map_err(|e| Error::Prepare {
        what: "the fake node".to_owned(),
        source: std::io::Error::other(e),
    })?;
    nodes
        .create(&PostParams::default(), &node)
        .await
        .map_err(|source| Error::Setup {
            what: "the fake node",
            source,
        })?;
    let kwok = components
        .iter_mut()
        .find(|c| c.name() == "kwok")
        .ok_or(Error::Internal("kwok is not running"))?;
    wait_until(
        kwok,
        STARTUP_TIMEOUT,
        "the fake node to become Ready",
        || async {
            nodes
                .get(NODE_NAME)
                .await
                .is_ok_and(|node| node_is_ready(&node))
        },
    )
    .await
}

/// Whether a node's `Ready` condition is `True`.
fn node_is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
