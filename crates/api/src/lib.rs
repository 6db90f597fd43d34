//! Capstan's Kubernetes API: the `capstan.dev` group, the well-known names (field manager,
//! annotations, the ownership label) that every other crate and every managed object agree on,
//! and the types an Application's status is made of: sync and health statuses, the operation
//! state of a sync with its per-object results, the inventory entry, and the bounded [`Reason`]
//! for every way a compare or sync stops or an object fails; the [`Application`] custom resource
//! (`application`) and its CRD (`crd`); Go-syntax durations (`duration`).
//!
//! This crate is pure: it does no I/O and depends on no other workspace crate.

/// The API group of Capstan's custom resources.
pub const GROUP: &str = "capstan.dev";

/// The version of Capstan's custom resources.
pub const VERSION: &str = "v1alpha1";

/// The single field manager Capstan uses for every server-side apply.
pub const FIELD_MANAGER: &str = "capstan";

/// Annotation on managed objects naming the Application that owns them:
/// `<app-ns>/<app-name>:<group>/<kind>:<ns>/<name>`. Prune deletes nothing without a matching one.
pub const TRACKING_ID_ANNOTATION: &str = "capstan.dev/tracking-id";

/// Annotation on managed objects giving their sync wave, an integer (default 0).
pub const SYNC_WAVE_ANNOTATION: &str = "capstan.dev/sync-wave";

/// Annotation on managed objects carrying per-object sync options, e.g. `Prune=false`.
pub const SYNC_OPTIONS_ANNOTATION: &str = "capstan.dev/sync-options";

/// Annotation on an Application requesting an immediate refresh; its value is a timestamp.
pub const REFRESH_ANNOTATION: &str = "capstan.dev/refresh";

/// Finalizer the controller puts on every Application, so that deleting one first decides what
/// becomes of its objects.
pub const FINALIZER: &str = "capstan.dev/cleanup";

/// Annotation on an Application: `"true"` deletes its objects when the Application is deleted,
/// also without `syncPolicy.automated.prune` (which deletes them by itself).
pub const PRUNE_ON_DELETE_ANNOTATION: &str = "capstan.dev/prune-on-delete";

/// Label on an Application: the shard (`0`…`N-1` under `capstan controller --shards N`) that
/// reconciles it, instead of the one its id hashes to.
pub const SHARD_LABEL: &str = "capstan.dev/shard";

pub mod application;
pub mod crd;
pub mod duration;
mod inventory;
mod label;
mod names;
mod operation;
mod reason;
mod status;

pub use inventory::{AppliedFingerprints, InventoryEntry};
pub use label::{APP_LABEL, app_label_value};
pub use operation::{
    Operation, OperationPhase, OperationState, ResourceAction, ResourceResult, ResultStatus,
    SyncResult,
};
pub use reason::Reason;
pub use status::{HealthStatus, SyncStatus};

pub use application::Application;
