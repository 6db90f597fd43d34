//! The HTTP server: JSON API, web UI, Server-Sent Events, git and registry webhooks, `/metrics`,
//! `/healthz` and `/readyz`.
