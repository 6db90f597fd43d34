//! The HTTP server: JSON API, web UI, Server-Sent Events, git and registry webhooks, `/metrics`,
//! `/healthz` and `/readyz`.
//!
//! So far: the controller's metrics ([`Metrics`], one registry with bounded labels).

pub mod metrics;

pub use metrics::{Metrics, ReconcileResult};
