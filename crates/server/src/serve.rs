//! Serving [`app`](crate::app) on a TCP port until a shutdown future resolves, and the signal
//! that usually resolves it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::router::{AppState, app};

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound (in use, not permitted).
    #[error("binding {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The bound address could not be read back.
    #[error("reading the bound address")]
    LocalAddr(#[source] io::Error),
    /// Accepting or serving connections failed.
    #[error("serving HTTP")]
    Serve(#[source] io::Error),
}

/// A bound listener, not yet serving: bind first to learn the port (`127.0.0.1:0` picks one),
/// then [`Server::run`].
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
}

impl Server {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, state: AppState) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
        Ok(Server {
            listener,
            local_addr,
            state,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then stops accepting connections and returns once the
    /// requests in flight are answered (each is bounded by [`REQUEST_TIMEOUT`](crate::REQUEST_TIMEOUT)).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        tracing::info!(addr = %self.local_addr, "serving HTTP");
        axum::serve(self.listener, app(self.state))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)?;
        tracing::info!(addr = %self.local_addr, "HTTP server stopped");
        Ok(())
    }
}

/// Binds `addr` and serves [`app`](crate::app) until `shutdown` resolves (see [`Server::run`]).
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::bind(addr, state).await?.run(shutdown).await
}

/// Resolves on SIGTERM (how Kubernetes stops a Pod) or Ctrl-C. If a handler cannot be installed,
/// that signal is never waited for and the other still is.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;
    use crate::{Metrics, Readiness};

    /// Bounds every wait in these tests; nothing here should take a fraction of it.
    const BOUND: Duration = Duration::from_secs(10);

    async fn http_get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serve_answers_healthz_on_a_loopback_port_and_stops_when_shutdown_resolves() {
        let state = AppState::new(Arc::new(Metrics::new()), Readiness::new());
        let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), state)
            .await
            .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));

        let response = tokio::time::timeout(BOUND, http_get(addr, "/healthz"))
            .await
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nok\n"), "{response}");

        stop.send(()).unwrap();
        tokio::time::timeout(BOUND, running)
            .await
            .expect("the server stops once shutdown resolves")
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is released"
        );
    }

    #[tokio::test]
    async fn binding_an_address_in_use_names_the_address() {
        let taken = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = taken.local_addr().unwrap();
        let state = AppState::new(Arc::new(Metrics::new()), Readiness::new());
        let error = serve(addr, state, std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(error, ServeError::Bind { .. }));
        assert_eq!(error.to_string(), format!("binding {addr}"));
    }
}
