//! The HTTP server: JSON API, web UI, Server-Sent Events, git and registry webhooks, `/metrics`,
//! `/healthz` and `/readyz`.
//!
//! So far: the controller's metrics ([`Metrics`], one registry with bounded labels), the health
//! and readiness probes, and [`serve`] with graceful shutdown. [`app`] is the whole router, tested
//! without binding a port.

pub mod router;
mod serve;

pub use capstan_controller::metrics::{Metrics, ReconcileResult};
pub use router::{AppState, REQUEST_TIMEOUT, Readiness, app};
pub use serve::{ServeError, Server, serve, shutdown_signal};
