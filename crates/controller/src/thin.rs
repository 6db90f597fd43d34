//! The Applications as the controller keeps them: without their per-object lists.
//!
//! An Application's status lists every object it deploys twice or three times — its resources,
//! its inventory (with two fingerprints each) and the last sync's result per object — about
//! 17 KB in memory for 20 objects, most of what the controller would keep of it. The copy the
//! controller's watch keeps (the thin copy) leaves them out, and `managedFields` too; everything
//! else (spec, operation, conditions, summaries, history) stays. What decides whether to look at
//! an Application at all — its resourceVersion, its spec, a sync request, the summaries other
//! Applications wait on — reads the thin copy; a reconcile that goes past that, and anything
//! that needs the lists (the compare, the status write, the cleanup), reads the Application
//! whole with one GET ([`whole`]). A status is never written from a thin copy.

use std::sync::Arc;

use capstan_api::Reason;
use capstan_api::application::Application;
use capstan_core::app_status::Failure;
use kube::Api;
use kube::Resource;

/// Leaves out of `app` what the controller keeps only in the API server: `managedFields`,
/// `status.resources`, `status.inventory` and the last sync's per-object results.
pub fn thin(app: &mut Application) {
    app.meta_mut().managed_fields = None;
    if let Some(status) = app.status.as_mut() {
        status.resources = Vec::new();
        status.inventory = Vec::new();
        let result = status.operation_state.as_mut();
        if let Some(result) = result.and_then(|op| op.sync_result.as_mut()) {
            result.resources = Vec::new();
        }
    }
}

/// `app` read whole from the API server (its thin copy names it).
pub async fn whole(client: &kube::Client, app: &Application) -> Result<Arc<Application>, Failure> {
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let api = Api::<Application>::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(mut read) => {
            read.meta_mut().managed_fields = None;
            Ok(Arc::new(read))
        }
        Err(err) => Err(Failure {
            reason: Reason::ReadFailed,
            message: format!("cannot read application {namespace}/{name}: {err}"),
            retryable: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_thin_copy_keeps_everything_but_the_per_object_lists() {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "apps", "resourceVersion": "9",
                "managedFields": [{"manager": "capstan"}]},
            "spec": {"source": {"repoURL": "https://git.example/r.git", "path": "web"},
                "destination": {"namespace": "prod"}},
            "operation": {"sync": {"revision": "main"}},
            "status": {
                "sync": {"status": "Synced", "revision": "abc"},
                "health": {"status": "Healthy"},
                "resources": [{"group": "apps", "version": "v1", "kind": "Deployment",
                    "namespace": "prod", "objects": [{"name": "web", "status": "Synced"}]}],
                "inventory": [{"group": "apps", "version": "v1", "kind": "Deployment",
                    "namespace": "prod", "names": ["web"]}],
                "operationState": {"operation": {"revision": "abc"}, "phase": "Succeeded",
                    "startedAt": "2026-12-01T00:00:00Z",
                    "syncResult": {"revision": "abc", "resources": [{"group": "apps",
                        "version": "v1", "kind": "Deployment", "namespace": "prod",
                        "name": "web", "status": "Synced"}]}},
            },
        }))
        .expect("an Application");
        assert!(!app.status.as_ref().expect("status").resources.is_empty());
        assert!(!app.status.as_ref().expect("status").inventory.is_empty());
        let mut kept = app.clone();
        thin(&mut kept);
        let status = kept.status.as_ref().expect("status");
        assert!(status.resources.is_empty() && status.inventory.is_empty());
        let op = status.operation_state.as_ref().expect("operation state");
        assert!(
            op.sync_result
                .as_ref()
                .expect("result")
                .resources
                .is_empty()
        );
        assert_eq!(kept.metadata.managed_fields, None);

        // Everything else is as it was.
        let mut expected = app;
        expected.metadata.managed_fields = None;
        let status = expected.status.as_mut().expect("status");
        status.resources.clear();
        status.inventory.clear();
        let op = status.operation_state.as_mut().expect("operation state");
        op.sync_result.as_mut().expect("result").resources.clear();
        assert_eq!(kept, expected);
    }
}
