//! The storage layer under the app: the key-value store's contract, the delay queue across
//! restarts, duplicates and failures, and the segment id generator under contention. Each test
//! runs against every backend set of the run (`backend_sets()`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ids;
mod kv;
mod pool;
mod queue;
mod wallet;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
