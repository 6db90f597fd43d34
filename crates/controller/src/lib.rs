//! The controller: the Application reconcile pipeline, the image-update loop, events, metrics and
//! leader election.
//!
//! Code map: [`commit_fs`] lets the renderer read one commit of the git cache; [`source`] renders
//! an Application's path at a revision (resolve → open the commit → render).

pub mod commit_fs;
pub mod source;

pub use commit_fs::CommitFs;
pub use source::{Rendered, SourceError, render_revision};
