//! Fencing: a replica that may have lost its Lease must not write. Every write an Application's
//! reconcile makes runs inside [`fenced`] with the [`Fence`] of the shard that Application
//! belongs to; the clients made by [`client`] refuse, before sending, any request that is not a
//! read while the fence of the task making it is closed. A fence is open until a deadline
//! (wall-clock, as Leases are), which each observed renewal moves forward — so a process that
//! was frozen past its renew deadline writes nothing when it wakes, even before it learns that
//! its Lease is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use http::{Method, Request};
use kube::client::{Body, ClientBuilder};

tokio::task_local! {
    static FENCE: Fence;
}

/// A deadline after which writes are refused; shared by every clone.
#[derive(Debug, Clone)]
pub struct Fence(Arc<AtomicI64>);

impl Fence {
    /// A fence that never closes (a controller without leader election).
    pub fn open() -> Fence {
        Fence(Arc::new(AtomicI64::new(i64::MAX)))
    }

    /// A closed fence.
    pub fn closed() -> Fence {
        Fence(Arc::new(AtomicI64::new(i64::MIN)))
    }

    /// Opens the fence until `deadline`.
    pub fn open_until(&self, deadline: SystemTime) {
        self.0.store(millis(deadline), Ordering::SeqCst);
    }

    /// Closes the fence now.
    pub fn close(&self) {
        self.0.store(i64::MIN, Ordering::SeqCst);
    }

    /// Whether writes are allowed now.
    pub fn is_open(&self) -> bool {
        millis(SystemTime::now()) < self.0.load(Ordering::SeqCst)
    }
}

fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Runs `work` with `fence` guarding every write it makes through a [`client`].
pub async fn fenced<F: Future>(fence: Fence, work: F) -> F::Output {
    FENCE.scope(fence, work).await
}

/// Whether the task may write now: its fence is open, or it runs under none.
pub fn may_write() -> bool {
    FENCE.try_with(Fence::is_open).unwrap_or(true)
}

/// The error of a write refused by a closed fence.
#[derive(Debug, thiserror::Error)]
#[error("refused to write: this replica no longer holds the lease of this application's shard")]
pub struct Fenced;

/// A client for `config` whose writes obey the fence of the task that makes them.
pub fn client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&FenceLayer)
        .build())
}

/// The tower layer that makes [`FencedService`]s.
#[derive(Debug, Clone, Copy)]
pub struct FenceLayer;

impl<S> tower::Layer<S> for FenceLayer {
    type Service = FencedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FencedService { inner }
    }
}

/// A service that refuses writes while the calling task's fence is closed.
#[derive(Debug, Clone)]
pub struct FencedService<S> {
    inner: S,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S> tower::Service<Request<Body>> for FencedService<S>
where
    S: tower::Service<Request<Body>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    /// The fence is looked at when the response is first awaited, not here: kube's client calls
    /// its service from a worker task of its own, while the future returned is polled by the
    /// task that made the request — whose fence counts. Nothing is sent before that poll (the
    /// HTTP stack below starts a request when polled), so a refused request is never sent.
    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let read = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        let pending = self.inner.call(request);
        Box::pin(async move {
            if read || may_write() {
                pending.await
            } else {
                Err(Box::new(Fenced) as BoxError)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fence_is_open_until_its_deadline() {
        let fence = Fence::closed();
        assert!(!fence.is_open());
        fence.open_until(SystemTime::now() + Duration::from_secs(60));
        assert!(fence.is_open());
        fence.open_until(SystemTime::now() - Duration::from_millis(1));
        assert!(!fence.is_open());
        assert!(Fence::open().is_open());
        let shared = Fence::open();
        shared.clone().close();
        assert!(!shared.is_open(), "clones share one deadline");
    }

    #[tokio::test]
    async fn a_task_writes_only_while_its_fence_is_open() {
        assert!(may_write(), "no fence: nothing to obey");
        let fence = Fence::open();
        let inside = fenced(fence.clone(), async {
            let before = may_write();
            fence.close();
            (before, may_write())
        })
        .await;
        assert_eq!(inside, (true, false));
        assert!(may_write(), "the fence ends with its scope");
    }
}
