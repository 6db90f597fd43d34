//! The benchmark's objects: per Application `app-NNN`, 2 Deployments (2 replicas each), 2
//! Services and 16 ConfigMaps, in two files of the directory `apps/app-NNN/`; the same tree is
//! committed to the git server for Capstan and written to disk for kubectl. The change commit
//! edits one ConfigMap of every Application.

use std::path::Path;

/// Objects per Application: 2 Deployments, 2 Services, 16 ConfigMaps.
pub const OBJECTS: usize = 20;
/// ConfigMaps per Application.
const CONFIG_MAPS: usize = 16;
/// The two workloads of every Application, each a Deployment and a Service.
pub const WORKLOADS: [&str; 2] = ["web", "worker"];
/// Every generated object carries this label.
pub const PART_OF: &str = "capstan-controller-bench";

/// The name of Application `i`, also the prefix of its objects' names.
pub fn app_name(i: usize) -> String {
    format!("app-{i:03}")
}

/// The directory of Application `i` in the repository and in kubectl's tree.
pub fn app_path(i: usize) -> String {
    format!("apps/{}", app_name(i))
}

/// The files of Application `i` (path in the tree, text); `revision` is written into the last
/// ConfigMap, so revision 2 changes exactly one object.
pub fn app_files(i: usize, revision: u32) -> Vec<(String, String)> {
    let dir = app_path(i);
    vec![
        (format!("{dir}/config.yaml"), config_maps(i, revision)),
        (format!("{dir}/workloads.yaml"), workloads(i)),
    ]
}

/// Every file of Applications `0..apps`.
pub fn all_files(apps: usize, revision: u32) -> Vec<(String, String)> {
    (0..apps).flat_map(|i| app_files(i, revision)).collect()
}

/// Only the files of Applications `0..apps` that differ between revision 1 and `revision`.
pub fn changed_files(apps: usize, revision: u32) -> Vec<(String, String)> {
    (0..apps)
        .flat_map(|i| app_files(i, revision))
        .filter(|(path, _)| path.ends_with("config.yaml"))
        .collect()
}

/// Writes `files` under `root`.
pub fn write_tree(root: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (path, text) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}

fn labels(app: &str, component: &str) -> String {
    format!(
        "    app.kubernetes.io/name: {app}-{component}
    app.kubernetes.io/instance: {app}
    app.kubernetes.io/part-of: {PART_OF}"
    )
}

fn config_maps(i: usize, revision: u32) -> String {
    let app = app_name(i);
    (0..CONFIG_MAPS)
        .map(|n| {
            let revision = if n == CONFIG_MAPS - 1 { revision } else { 1 };
            format!(
                "apiVersion: v1
kind: ConfigMap
metadata:
  name: {app}-config-{n:02}
  labels:
{labels}
data:
  LOG_LEVEL: info
  LISTEN_ADDR: \"0.0.0.0:8080\"
  DATABASE_URL: postgres://db-{i:03}.internal:5432/app
  REVISION: \"{revision}\"
  settings.yaml: |
    index: {i}
    part: {n}
    features: [search, export]
",
                labels = labels(&app, "config"),
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn workloads(i: usize) -> String {
    let app = app_name(i);
    WORKLOADS
        .iter()
        .map(|component| {
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}-{component}
  labels:
{labels}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: {app}-{component}
  template:
    metadata:
      labels:
    {pod_labels}
    spec:
      containers:
      - name: {component}
        image: registry.example/{component}:1.4.2
        ports:
        - name: http
          containerPort: 8080
        envFrom:
        - configMapRef:
            name: {app}-config-00
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            memory: 256Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {app}-{component}
  labels:
{labels}
spec:
  selector:
    app.kubernetes.io/name: {app}-{component}
  ports:
  - name: http
    port: 80
    targetPort: http
",
                labels = labels(&app, component),
                pod_labels = labels(&app, component).replace("\n", "\n    "),
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}
