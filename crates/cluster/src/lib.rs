//! Cluster access through kube-rs: discovery, watch caches, server-side apply and its dry-run,
//! prune, and leases.
