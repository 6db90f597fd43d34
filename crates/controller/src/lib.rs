//! The controller: the Application reconcile pipeline, the image-update loop, events, metrics and
//! leader election.
//!
//! Code map: [`commit_fs`] lets the renderer read one commit of the git cache.

pub mod commit_fs;

pub use commit_fs::CommitFs;
