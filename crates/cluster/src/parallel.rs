//! Bounded parallelism for API calls: futures run at most `parallelism` at a time, results in
//! the order the futures were given.
//!
//! Callers build the futures into a `Vec` first. Mapping borrowed items inside a stream instead
//! makes the enclosing future not provably `Send` (rust-lang/rust#102211), and the controller
//! spawns these futures.

use std::future::Future;

use futures::{StreamExt, TryStreamExt, stream};

/// Runs `futures`, at most `parallelism` (at least 1) at once; outputs in order.
pub(crate) async fn run<F: Future>(futures: Vec<F>, parallelism: usize) -> Vec<F::Output> {
    stream::iter(futures)
        .buffered(parallelism.max(1))
        .collect()
        .await
}

/// Like [`run`] for fallible futures: stops at the first error, in order.
pub(crate) async fn try_run<T, E, F>(futures: Vec<F>, parallelism: usize) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    stream::iter(futures)
        .buffered(parallelism.max(1))
        .try_collect()
        .await
}
