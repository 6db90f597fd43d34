//! The HTTP routes and the state they share: `/metrics`, `/healthz`, `/readyz`, behind a request
//! timeout. Later features add their routes to [`app`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

use capstan_controller::metrics::Metrics;

/// How long a request may take before it is answered `503 Service Unavailable`. A scrape or a
/// probe takes milliseconds; the bound keeps a stuck handler from holding a connection, and a
/// graceful shutdown from waiting on it, forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The OpenMetrics text format, as Prometheus asks for it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether the controller is ready to serve, as `/readyz` reports it. Clones share one flag: the
/// controller keeps one and sets it (caches synced, leader known); the server reads another.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// `Ok` when ready, otherwise a short reason for not being ready.
    state: Arc<Mutex<Result<(), &'static str>>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new()
    }
}

impl Readiness {
    /// A flag that starts not ready, with the reason `starting`.
    pub fn new() -> Readiness {
        Readiness {
            state: Arc::new(Mutex::new(Err("starting"))),
        }
    }

    /// Marks the controller ready.
    pub fn set_ready(&self) {
        self.set(Ok(()));
    }

    /// Marks the controller not ready, with a short reason `/readyz` answers with (`caches not
    /// synced`, `no leader known`). A static string keeps error text and object names out.
    pub fn set_not_ready(&self, reason: &'static str) {
        self.set(Err(reason));
    }

    /// `Ok` when ready, otherwise why not.
    pub fn get(&self) -> Result<(), &'static str> {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: Result<(), &'static str>) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The controller's metrics, served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The readiness flag, served at `/readyz`.
    pub readiness: Readiness,
}

impl AppState {
    /// State serving these metrics and this readiness flag.
    pub fn new(metrics: Arc<Metrics>, readiness: Readiness) -> AppState {
        AppState { metrics, readiness }
    }
}

/// The whole HTTP application, ready to serve or to test with `oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(timeout_layer())
}

/// Answers `503` when a request outlives [`REQUEST_TIMEOUT`]: the server gave up, which is not
/// the client's fault that `408` would say.
pub(crate) fn timeout_layer() -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT)
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness.get() {
        Ok(()) => "ok\n".into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use capstan_api::{HealthStatus, Reason, SyncStatus};
    use tower::ServiceExt;

    use super::*;
    use capstan_controller::metrics::ReconcileResult;

    fn state() -> AppState {
        AppState::new(Arc::new(Metrics::new()), Readiness::new())
    }

    async fn request(app: Router, path: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_string());
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn healthz_answers_ok_while_the_process_runs() {
        let (status, _, body) = request(app(state()), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok\n");
    }

    #[tokio::test]
    async fn readyz_answers_503_with_a_reason_until_the_flag_is_set_then_200() {
        let state = state();
        let (status, _, body) = request(app(state.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: starting\n");

        state.readiness.set_ready();
        let (status, _, _) = request(app(state.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::OK);

        state.readiness.set_not_ready("no leader known");
        let (status, _, body) = request(app(state), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: no leader known\n");
    }

    #[tokio::test]
    async fn metrics_serves_every_family_with_help_and_type_as_openmetrics() {
        let (status, content_type, body) = request(app(state()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(OPENMETRICS));
        for (family, kind) in [
            ("capstan_reconciles", "counter"),
            ("capstan_reconcile_duration_seconds", "histogram"),
            ("capstan_applications", "gauge"),
            ("capstan_git_checks", "counter"),
            ("capstan_git_fetches", "counter"),
            ("capstan_apply_results", "counter"),
        ] {
            assert!(
                body.contains(&format!("# HELP {family} ")),
                "{family}: {body}"
            );
            assert!(
                body.contains(&format!("# TYPE {family} {kind}\n")),
                "{family}: {body}"
            );
        }
        assert!(body.ends_with("# EOF\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_outlives_the_timeout_is_answered_503() {
        let stuck = Router::new()
            .route(
                "/stuck",
                axum::routing::get(std::future::pending::<&'static str>),
            )
            .layer(timeout_layer());
        let (status, _, _) = request(stuck, "/stuck").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// Scrapes after `n` Applications, each with its own name, each reconciled once per result
    /// with a reason picked by its index, and counted in a recount.
    async fn scrape_after_applications(n: usize) -> (String, Vec<String>) {
        let state = state();
        let names: Vec<String> = (0..n).map(|i| format!("app-{i:03}-payments")).collect();
        let mut statuses = Vec::new();
        for (i, _name) in names.iter().enumerate() {
            let reason = Reason::ALL[i % Reason::ALL.len()];
            let millis = u64::try_from(i).unwrap() * 37;
            for result in ReconcileResult::ALL {
                state
                    .metrics
                    .record_reconcile(result, Some(reason), Duration::from_millis(millis));
            }
            state.metrics.record_git_check(Err(reason));
            state.metrics.record_git_fetch(Ok(()));
            statuses.push((
                SyncStatus::ALL[i % SyncStatus::ALL.len()],
                HealthStatus::ALL[i % HealthStatus::ALL.len()],
            ));
        }
        state.metrics.set_applications(&statuses);
        let (_, _, body) = request(app(state), "/metrics").await;
        (body, names)
    }

    fn series_lines(scrape: &str) -> usize {
        scrape.lines().filter(|line| !line.starts_with('#')).count()
    }

    #[tokio::test]
    async fn the_number_of_series_does_not_grow_with_the_number_of_applications() {
        let (ten, ten_names) = scrape_after_applications(10).await;
        let (hundred, hundred_names) = scrape_after_applications(100).await;
        let (none, _) = scrape_after_applications(0).await;
        assert_eq!(series_lines(&ten), series_lines(&hundred));
        assert_eq!(series_lines(&none), series_lines(&hundred));
        assert!(
            hundred.contains(r#"capstan_reconciles_total{result="error",reason="Cancelled"} 2"#)
        );
        for name in ten_names.iter().chain(&hundred_names) {
            assert!(!ten.contains(name.as_str()), "{name} in the scrape");
            assert!(!hundred.contains(name.as_str()), "{name} in the scrape");
        }
        assert!(!hundred.contains("payments"));
    }
}
