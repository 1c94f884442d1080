//! The delay queue: work to do later (notice retries, order expiry, PK and rain end timers).
//! One trait, two implementations: local (jobs in the database) and RabbitMQ (TTL wait queues
//! dead-lettering into a work queue). Delivery is at least once; handlers are idempotent.

mod amqp;
mod local;

pub use amqp::AmqpQueue;
pub use local::LocalQueue;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A unit of deferred work. `id` is unique per scheduled job, so handlers can use it as an
/// idempotency key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    /// When it was due (ms since the epoch).
    pub due_at: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("delay queue: {0}")]
pub struct QueueError(pub String);

/// Does one kind of job. Returning an error makes the queue try again later.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn handle(&self, job: &Job) -> anyhow::Result<()>;
}

/// Finds the handler of a job's kind. Filled while the app is built, read by the consumers.
#[derive(Default)]
pub struct JobRouter {
    handlers: RwLock<HashMap<String, Arc<dyn JobHandler>>>,
}

impl JobRouter {
    pub fn register(&self, kind: &str, handler: Arc<dyn JobHandler>) {
        self.handlers.write().insert(kind.to_owned(), handler);
    }

    /// Runs the job's handler. An unknown kind is an error, so the job is retried (its handler
    /// may be registered by a newer version of the binary).
    pub async fn dispatch(&self, job: &Job) -> anyhow::Result<()> {
        let h = self.handlers.read().get(&job.kind).cloned();
        match h {
            Some(h) => {
                crate::metrics::JOBS_RUN.with_label_values(&[job.kind.as_str()]).inc();
                h.handle(job).await
            }
            None => anyhow::bail!("no handler for job kind {}", job.kind),
        }
    }
}

#[async_trait::async_trait]
pub trait DelayQueue: Send + Sync + 'static {
    /// Schedules `kind` with `payload` to run after `delay`; answers once the job is durable
    /// (committed row, or publisher-confirmed message).
    async fn schedule(&self, kind: &str, payload: serde_json::Value, delay: Duration) -> Result<String, QueueError>;
    /// Starts consuming: due jobs go to `router`. Called once, after every handler is registered.
    async fn start(&self, router: Arc<JobRouter>) -> Result<(), QueueError>;
    async fn ping(&self) -> Result<(), QueueError>;
    fn backend(&self) -> &'static str;
    /// Stops taking new jobs (at shutdown; tests also start a second app on the same storage).
    /// Jobs already running go on, and are acknowledged when they finish.
    fn stop(&self);
    /// After `stop`: waits up to `limit` for the jobs that were running to finish and be
    /// acknowledged, and for the consumer to let go of the queue. True when everything did; a
    /// job still running past it is delivered again later (after its claim, or when the
    /// process's connection to the broker closes).
    async fn drain(&self, limit: Duration) -> bool;
}

/// Work in flight (running job handlers, a consumer loop): a stopping queue waits until none is
/// left.
#[derive(Clone)]
pub(crate) struct InFlight(Arc<watch::Sender<usize>>);

/// One unit of work in flight, until dropped.
pub(crate) struct InFlightGuard(InFlight);

impl InFlight {
    pub(crate) fn new() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }

    pub(crate) fn enter(&self) -> InFlightGuard {
        self.0.send_modify(|n| *n += 1);
        InFlightGuard(self.clone())
    }

    /// Resolves once nothing is in flight.
    pub(crate) async fn idle(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`: this cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0 .0.send_modify(|n| *n -= 1);
    }
}

pub fn new_job(kind: &str, payload: serde_json::Value, delay: Duration) -> Job {
    Job {
        id: uuid::Uuid::new_v4().simple().to_string(),
        kind: kind.to_owned(),
        payload,
        due_at: crate::clock::now_ms() + delay.as_millis() as i64,
    }
}

/// Delay before retry number `attempt` (1, 2, ...) of a failed job: 1 s doubling to 60 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}
