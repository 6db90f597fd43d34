//! Cluster access through kube-rs: discovery, reading live objects, server-side-apply dry-run
//! diffs, ordered apply, safe prune, health waits, and the inventory the CLI keeps.
//!
//! The decisions are made in `capstan-core` (pure); this crate only performs them.

pub mod bounded;
pub mod compact;
pub mod compare;
pub mod delete;
pub mod discovery;
pub mod error;
pub mod fence;
pub mod inventory_store;
pub mod live;
pub mod live_cache;
pub mod live_version;
pub mod observed;
mod parallel;
pub mod prepare;
pub mod prune;
pub mod run;
pub mod ssa;
pub mod step;
pub mod sync;
pub mod wait;

pub use discovery::{Catalog, Resource, SharedCatalog};
pub use error::ClusterError;
pub use prepare::{Prepared, prepare};
pub use sync::{SyncRequest, sync};
