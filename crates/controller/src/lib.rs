//! The controller: the Application reconcile pipeline, the image-update loop, events, metrics and
//! leader election.
//!
//! Code map: [`commit_fs`] lets the renderer read one commit of the git cache; [`source`] renders
//! an Application's path at a revision (resolve → open the commit → render); [`context`] is what
//! every reconcile shares (clients, git cache, watch caches, discovery); [`stages`] are the I/O
//! steps of a reconcile and [`reconcile`] the driver over them and the kube-runtime `Controller`.

pub mod clusters;
pub mod commit_fs;
pub mod context;
pub mod election;
pub mod events;
pub mod metrics;
pub mod poll;
pub mod preview;
pub mod quiet;
pub mod reconcile;
pub mod recorder;
pub mod refresh;
pub mod renders;
pub mod requests;
pub mod retry;
pub mod shards;
pub mod source;
pub mod stages;
pub mod thin;

pub use commit_fs::CommitFs;
pub use source::{Rendered, SourceError, render_revision};
