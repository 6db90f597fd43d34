//! Capstan's pure core: object identity and inventory, diff and normalization, the sync plan
//! (ordering, waves, prune set), health per kind, and status computation. Does no I/O.

pub mod app_status;
pub mod diff;
pub mod fingerprint;
pub mod health;
pub mod ignore;
pub mod inventory;
pub mod managed_fields;
pub mod mask;
pub mod normalize;
pub mod object;
pub mod options;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod shard;
pub mod tracking;
