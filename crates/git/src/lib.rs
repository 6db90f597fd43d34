//! Git sources over HTTPS and SSH with git2 behind an async API: the shared fetch cache, revision
//! resolution, reading trees straight from the object database, and commit-and-push write-back.
