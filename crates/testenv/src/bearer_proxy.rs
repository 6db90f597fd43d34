//! A loopback HTTP reverse proxy that accepts only `Authorization: Bearer <token>`, as GitHub,
//! GitLab and Azure DevOps accept tokens, in front of lighttpd's git-http-backend. A request with
//! the right token is forwarded with lighttpd's basic-auth header in its place; any other request
//! (no header, another scheme, a wrong token) gets `401` with `WWW-Authenticate: Bearer` and never
//! reaches git. It counts requests for tests and logs one line per request — method, path,
//! status and whether the token was right, wrong or missing, never a header value.
//!
//! It runs on a thread of its own with its own Tokio runtime, so it outlives the runtime of the
//! test that started it (each `#[tokio::test]` has one; the git servers are shared by all).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::Error;

/// What the proxy made of a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Right,
    Wrong,
    Missing,
}

impl Verdict {
    fn of(header: Option<&HeaderValue>, token: &str) -> Self {
        match header {
            None => Verdict::Missing,
            Some(value) => {
                let expected = format!("Bearer {token}");
                if value.as_bytes() == expected.as_bytes() {
                    Verdict::Right
                } else {
                    Verdict::Wrong
                }
            }
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Right => "right-token",
            Verdict::Wrong => "wrong-token",
            Verdict::Missing => "no-token",
        }
    }
}

/// Shared by the proxy's connections.
struct State {
    token: String,
    upstream_port: u16,
    upstream_basic: HeaderValue,
    forwarded: AtomicUsize,
    refused: AtomicUsize,
    log: Mutex<std::fs::File>,
}

/// A running bearer proxy; it stops when dropped.
pub struct BearerProxy {
    port: u16,
    state: Arc<State>,
    log_path: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for BearerProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerProxy")
            .field("port", &self.port)
            .field("token", &"<redacted>")
            .field("log", &self.log_path)
            .finish()
    }
}

impl BearerProxy {
    /// Starts the proxy on a free loopback port, accepting `token` and forwarding to
    /// `http://127.0.0.1:<upstream_port>` as basic-auth `user:password`; one line per request is
    /// appended to `log_path`.
    pub fn start(
        token: &str,
        upstream_port: u16,
        (user, password): (&str, &str),
        log_path: PathBuf,
    ) -> Result<Self, Error> {
        use base64::Engine as _;
        let prepare = |what: &str, source| Error::Prepare {
            what: format!("the bearer proxy: {what}"),
            source,
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let upstream_basic = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|e| prepare("basic header", std::io::Error::other(e.to_string())))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| prepare("log file", e))?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| prepare("bind", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| prepare("bind", e))?
            .port();
        let state = Arc::new(State {
            token: token.to_owned(),
            upstream_port,
            upstream_basic,
            forwarded: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            log: Mutex::new(log),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| prepare("runtime", e))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let serving = Arc::clone(&state);
        std::thread::Builder::new()
            .name("bearer-proxy".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        () = accept_loop(listener, serving) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(|e| prepare("thread", e))?;
        Ok(Self {
            port,
            state,
            log_path,
            _stop: stop,
        })
    }

    /// The port the proxy listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests forwarded to git (the token was right).
    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Requests refused with 401 (a wrong token, or none).
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// The proxy's log file (one redacted line per request, written before the response).
    pub fn log_path(&self) -> &std::path::Path {
        &self.log_path
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(handle(req, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn text(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(message.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

async fn handle(mut req: Request<Incoming>, state: &State) -> Response<Body> {
    let verdict = Verdict::of(req.headers().get(AUTHORIZATION), &state.token);
    let line = format!(
        "{} {} {}",
        req.method(),
        req.uri().path_and_query().map_or("/", |p| p.as_str()),
        verdict.word()
    );
    let response = if verdict == Verdict::Right {
        state.forwarded.fetch_add(1, Ordering::SeqCst);
        req.headers_mut()
            .insert(AUTHORIZATION, state.upstream_basic.clone());
        forward(req, state.upstream_port)
            .await
            .unwrap_or_else(|_| text(StatusCode::BAD_GATEWAY, "the git server did not answer\n"))
    } else {
        state.refused.fetch_add(1, Ordering::SeqCst);
        let mut response = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"git\""),
        );
        response
    };
    if let Ok(mut log) = state.log.lock() {
        let _ = writeln!(log, "{line} {}", response.status().as_u16());
    }
    response
}

/// Sends `req` to lighttpd over a connection of its own and returns its response, streamed.
async fn forward(mut req: Request<Incoming>, port: u16) -> anyhow::Result<Response<Body>> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    // Origin form on the wire, with the upstream's own Host.
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()?;
    *req.uri_mut() = path;
    req.headers_mut()
        .insert(HOST, HeaderValue::from_str(&format!("127.0.0.1:{port}"))?);
    let response = sender.send_request(req).await?;
    Ok(response.map(BodyExt::boxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_header_is_right() {
        let token = "t0k3n";
        let cases = [
            (None, Verdict::Missing),
            (Some("Bearer t0k3n"), Verdict::Right),
            (Some("Bearer t0k3n "), Verdict::Wrong),
            (Some("bearer t0k3n-x"), Verdict::Wrong),
            (Some("Basic dDBrM246"), Verdict::Wrong),
            (Some("Bearer other"), Verdict::Wrong),
        ];
        for (header, expected) in cases {
            let value = header.map(HeaderValue::from_static);
            assert_eq!(Verdict::of(value.as_ref(), token), expected, "{header:?}");
        }
    }
}
