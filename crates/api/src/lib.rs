//! Capstan's Kubernetes API: the `capstan.dev` group, and the well-known names (field manager,
//! annotations) that every other crate and every managed object agree on.
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

mod inventory;
mod status;

pub use inventory::{AppliedFingerprints, InventoryEntry};
pub use status::{HealthStatus, SyncStatus};
