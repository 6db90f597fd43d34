//! The HTTPS side of the test webhook: a throw-away CA and a serving certificate for
//! `127.0.0.1` (`certs::LoopbackCert`, as the control plane's), and a hyper server over rustls (ring provider) that answers `POST /mutate` with
//! [`mutation::review`](super::mutation::review) and counts what it served.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::WebhookError;
use super::mutation::{Outcome, review};
use crate::certs::LoopbackCert;

/// The largest review body read; the apiserver's own request limit is 3 MiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The path the webhook answers on.
pub const MUTATE_PATH: &str = "/mutate";

/// TLS for the webhook: the CA the apiserver is told to trust, and the server configuration.
pub struct Tls {
    /// PEM of the CA certificate that signed the serving certificate.
    pub ca_pem: String,
    /// rustls configuration holding the serving certificate for `127.0.0.1`.
    pub config: Arc<ServerConfig>,
}

/// Generates a fresh CA and a serving certificate for `127.0.0.1` signed by it.
pub fn tls() -> Result<Tls, WebhookError> {
    let LoopbackCert {
        ca_pem, cert, key, ..
    } = LoopbackCert::generate("capstan-testenv-webhook")?;
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], private_key)
        })
        .map_err(WebhookError::Tls)?;
    Ok(Tls {
        ca_pem,
        config: Arc::new(config),
    })
}

/// What the server has done, shared with the handle.
#[derive(Debug, Default)]
pub struct Counters {
    /// Reviews answered (including malformed ones).
    pub served: AtomicUsize,
    /// Reviews that could not be read.
    pub errors: AtomicUsize,
}

/// Accepts connections until the task is aborted; aborting it also ends every connection.
pub async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, state: Arc<State>) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    // A failed handshake or a broken connection only concerns that client.
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let service = service_fn(move |req| answer(req, Arc::clone(&state)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What a request handler needs.
#[derive(Debug, Default)]
pub struct State {
    /// The CPU floor in millicores.
    pub min_cpu_millis: u64,
    /// Shared counters.
    pub counters: Counters,
}

/// Answers one HTTP request.
async fn answer(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST || req.uri().path() != MUTATE_PATH {
        return Ok(respond(
            StatusCode::NOT_FOUND,
            Bytes::from_static(br#"{"message":"not found"}"#),
        ));
    }
    let body = Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await;
    let body = body
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let (review, outcome) = review(&body, state.min_cpu_millis);
    state.counters.served.fetch_add(1, Ordering::SeqCst);
    if let Outcome::Malformed(_) = outcome {
        state.counters.errors.fetch_add(1, Ordering::SeqCst);
    }
    Ok(respond(StatusCode::OK, Bytes::from(review.to_string())))
}

/// A response with a JSON body.
fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
