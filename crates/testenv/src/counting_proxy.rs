//! A loopback TCP proxy that counts what passes through it: connections, and bytes each way. Put
//! in front of any of the git servers (HTTP, SSH, git://), it measures what a fetch or a check
//! really transfers on the wire, whatever the transport — a server's own access log sees only
//! HTTP, and only the response bodies.
//!
//! It runs on a thread of its own with its own Tokio runtime, so it outlives the runtime of the
//! test that started it; it stops when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What has passed through a proxy so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes from the client to the server.
    pub sent: u64,
    /// Bytes from the server to the client.
    pub received: u64,
}

impl Transfer {
    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.sent + self.received
    }

    /// What passed between `earlier` and this.
    pub fn since(&self, earlier: Transfer) -> Transfer {
        Transfer {
            connections: self.connections - earlier.connections,
            sent: self.sent - earlier.sent,
            received: self.received - earlier.received,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// A running proxy from a loopback port to `127.0.0.1:<target>`.
#[derive(Debug)]
pub struct CountingProxy {
    port: u16,
    counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl CountingProxy {
    /// Starts a proxy to `127.0.0.1:<target>` on a free loopback port.
    pub fn start(target: u16) -> std::io::Result<CountingProxy> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let counted = Arc::clone(&counters);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("counting-proxy-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        () = accept(listener, target, counted) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(CountingProxy {
            port,
            counters,
            stop: Some(stop),
        })
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What has passed so far.
    pub fn transfer(&self) -> Transfer {
        Transfer {
            connections: self.counters.connections.load(Ordering::SeqCst),
            sent: self.counters.sent.load(Ordering::SeqCst),
            received: self.counters.received.load(Ordering::SeqCst),
        }
    }
}

async fn accept(listener: TcpListener, target: u16, counters: Arc<Counters>) {
    while let Ok((client, _)) = listener.accept().await {
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await {
                relay(client, server, &counters).await;
            }
        });
    }
}

/// Copies both ways until either side closes, counting each chunk before passing it on — so by
/// the time a client has read a byte, it is counted.
async fn relay(client: TcpStream, server: TcpStream, counters: &Counters) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = copy(&mut client_read, &mut server_write, &counters.sent);
    let down = copy(&mut server_read, &mut client_write, &counters.received);
    tokio::join!(up, down);
}

async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    counter: &AtomicU64,
) {
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        counter.fetch_add(read as u64, Ordering::SeqCst);
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
