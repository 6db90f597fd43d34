//! A client that has at most a given number of requests in flight, however many callers share
//! it. kube's HTTP/1 client opens a connection for each request that finds none idle, and each
//! connection keeps its own read and TLS buffers until it has been idle for a while: a burst of
//! requests from many reconciles at once (a cold start) would hold hundreds of them. A request
//! waits for a turn before it is sent; its turn ends when the response's headers arrive, so a
//! watch, whose body streams for minutes, holds none.

use std::sync::Arc;

use kube::client::Body;

/// `client`, limited to `at_once` requests in flight (at least one).
pub fn bounded(client: kube::Client, at_once: usize) -> kube::Client {
    let turns = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let namespace = client.default_namespace().to_owned();
    let service = tower::service_fn(move |request: http::Request<Body>| {
        let (client, turns) = (client.clone(), Arc::clone(&turns));
        async move {
            // The semaphore is never closed, so a turn always comes.
            let _turn = turns.acquire_owned().await;
            client.send(request).await
        }
    });
    kube::Client::new(service, namespace)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A client whose every request waits at `gate` and counts itself in flight meanwhile.
    fn gated(
        gate: Arc<tokio::sync::Semaphore>,
        in_flight: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    ) -> kube::Client {
        let service = tower::service_fn(move |_: http::Request<Body>| {
            let (gate, in_flight, most) = (gate.clone(), in_flight.clone(), most.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let _open = gate.acquire().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, kube::Error>(http::Response::new(Body::empty()))
            }
        });
        kube::Client::new(service, "default")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_more_requests_than_allowed_are_in_flight_and_every_one_is_answered() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (in_flight, most) = (Arc::default(), Arc::default());
        let client = bounded(
            gated(gate.clone(), Arc::clone(&in_flight), Arc::clone(&most)),
            3,
        );
        let requests: Vec<_> = (0..10)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    let request = http::Request::get("/api").body(Body::empty());
                    let request = request.expect("a request");
                    client.send(request).await.map(|r| r.status())
                })
            })
            .collect();
        // On one thread, a yield lets every spawned request run until it waits.
        tokio::task::yield_now().await;
        assert_eq!(in_flight.load(Ordering::SeqCst), 3);
        gate.add_permits(10);
        for request in requests {
            let status = request.await.expect("the task").expect("the response");
            assert_eq!(status, http::StatusCode::OK);
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
