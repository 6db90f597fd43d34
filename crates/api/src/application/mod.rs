//! The `Application` custom resource (`capstan.dev/v1alpha1`, namespaced): a directory of a git
//! repository kept applied to a cluster. `spec.rs` is what users write, `status.rs` what the
//! controller reports, `request.rs` the top-level `operation` (a sync request), `compact.rs` the
//! stored forms that keep a large status small; `crate::crd` turns them into the CRD.
//! `docs/application.md` is the user's description of every field.

mod compact;
mod request;
mod spec;
mod status;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

pub use compact::{InventoryGroup, ResourceGroup, ResourceObject};
pub use request::{ApplicationOperation, InitiatedBy, SyncOperation};
pub use spec::{
    ApplicationDestination, ApplicationReference, ApplicationSource, ApplicationSpec,
    AutomatedSync, Backoff, DEFAULT_REFRESH_INTERVAL, IgnoreDifferences, RetryStrategy,
    SecretReference, SourceVerification, SyncPolicy, VerifyMode,
};
pub use status::{
    ApplicationStatus, Condition, ConditionStatus, ConditionType, HISTORY_LIMIT, HealthSummary,
    ResourceStatus, RevisionHistory, SyncSummary,
};

/// The kind of the resource.
pub const KIND: &str = "Application";
/// The plural resource name (`kubectl get applications`).
pub const PLURAL: &str = "applications";

/// An Application: `metadata`, `spec`, `status`, and the top-level `operation`.
///
/// Written by hand rather than with kube-derive's `#[derive(CustomResource)]`: the derive knows
/// only `spec` and `status`, and Argo CD's sync-request contract puts `operation` beside them, at
/// the top level, so that a user with write access to the Application (not to its status) can
/// request a sync and the controller can clear the request with one patch. So this type
/// implements [`kube_core::Resource`] (with `DynamicType = ()`, as a derived one would),
/// [`kube_core::object::HasSpec`] and [`kube_core::object::HasStatus`], serializes `apiVersion`
/// and `kind` itself, and [`crate::crd::application_crd`] builds the CRD from the schemars
/// schemas of the three parts. It also keeps `capstan-api` free of the derive's dependencies.
///
/// `images` and `imageWriteBack` of the image updater are not part of the resource yet: the
/// issue that implements them adds them with their schema (until then the API server drops
/// them, with a warning to the client that wrote them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Application {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// What to deploy, where, and how.
    pub spec: ApplicationSpec,
    /// What the controller last saw; absent until it first reports.
    #[serde(default)]
    pub status: Option<ApplicationStatus>,
    /// A requested operation (a sync), until the controller has run it.
    #[serde(default)]
    pub operation: Option<ApplicationOperation>,
}

impl Application {
    /// A new Application with no status and no operation.
    pub fn new(name: &str, namespace: &str, spec: ApplicationSpec) -> Application {
        Application {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
            operation: None,
        }
    }
}

impl Serialize for Application {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = 3 + usize::from(self.status.is_some()) + usize::from(self.operation.is_some());
        let mut state = serializer.serialize_struct(KIND, fields + 1)?;
        state.serialize_field("apiVersion", &api_version())?;
        state.serialize_field("kind", KIND)?;
        state.serialize_field("metadata", &self.metadata)?;
        state.serialize_field("spec", &self.spec)?;
        if let Some(status) = &self.status {
            state.serialize_field("status", status)?;
        }
        if let Some(operation) = &self.operation {
            state.serialize_field("operation", operation)?;
        }
        state.end()
    }
}

/// `capstan.dev/v1alpha1`.
fn api_version() -> String {
    format!("{}/{}", crate::GROUP, crate::VERSION)
}

impl kube_core::Resource for Application {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(KIND)
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(crate::GROUP)
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(crate::VERSION)
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Owned(api_version())
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(PLURAL)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl kube_core::object::HasSpec for Application {
    type Spec = ApplicationSpec;

    fn spec(&self) -> &ApplicationSpec {
        &self.spec
    }

    fn spec_mut(&mut self) -> &mut ApplicationSpec {
        &mut self.spec
    }
}

impl kube_core::object::HasStatus for Application {
    type Status = ApplicationStatus;

    fn status(&self) -> Option<&ApplicationStatus> {
        self.status.as_ref()
    }

    fn status_mut(&mut self) -> &mut Option<ApplicationStatus> {
        &mut self.status
    }
}
