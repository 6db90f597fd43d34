//! Fuzz target `kustomization`: arbitrary bytes are a kustomization file next to a base with a
//! Deployment, a Service and a ConfigMap source; the whole build (kustomization parsing,
//! generators, patches, transformers, name references, printing) must return an object list or
//! an error, never panic.

#![no_main]

use capstan_render::{LoadRestrictor, MemFs, Options, Reorder, render_to_yaml};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "resources:\n- deployment.yaml\n- service.yaml\nconfigMapGenerator:\n- name: cfg\n  files:\n  - app.properties\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.0\n        envFrom:\n        - configMapRef: {name: cfg}\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fs = MemFs::new()
        .file("base/kustomization.yaml", BASE)
        .file("base/deployment.yaml", DEPLOYMENT)
        .file("base/service.yaml", SERVICE)
        .file("base/app.properties", "a=1\nb=2\n")
        .file("overlay/patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n")
        .file("overlay/kustomization.yaml", text);
    for reorder in [Reorder::Legacy, Reorder::None] {
        let options = Options {
            load_restrictor: LoadRestrictor::RootOnly,
            reorder,
        };
        let _ = render_to_yaml(&fs, "overlay", &options);
    }
});
