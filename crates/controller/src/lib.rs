//! The controller: the Application reconcile pipeline, the image-update loop, events, metrics and
//! leader election.
