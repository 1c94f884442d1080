//! RabbitMQ delay queue, no plugin: one durable wait queue per delay (`x-message-ttl`) that
//! dead-letters into one durable work queue. Messages are persistent, publisher confirms are on,
//! a delivery is acked only after its handler committed, a failed one is re-published to a
//! back-off wait queue, and both sides reconnect after the broker restarts. Once stopped, the
//! consumer is cancelled and the deliveries it had not started go back to the broker; those
//! running finish and are acked before its connection closes (`drain` waits for that).

mod consume;

use super::{backoff, new_job, DelayQueue, InFlight, Job, JobRouter, QueueError};
use crate::storage::health::{Backend, BackendHealth};
use consume::consume;
use futures_util::StreamExt;
use lapin::{
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
        BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable, LongString},
    BasicProperties, Channel, Connection, ConnectionProperties,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What travels in a message: the job and how often it failed so far.
#[derive(Serialize, Deserialize)]
struct Envelope {
    job: Job,
    attempts: u32,
}

pub struct AmqpQueue {
    url: String,
    prefix: String,
    /// The publishing channel (confirm mode), replaced after a disconnect.
    publisher: tokio::sync::Mutex<Option<(Connection, Channel)>>,
    /// Wait queues declared on the current publishing connection.
    declared: Mutex<HashSet<u64>>,
    stopped: Arc<AtomicBool>,
    /// Publishes and the consumer report here; while RabbitMQ is down, publishes fail fast.
    health: BackendHealth,
    /// The consumer loop, until it has closed its connection.
    consumer: InFlight,
    /// Job handlers running, until their delivery is acked (or handed back).
    handlers: InFlight,
}

/// A publish the broker answered with a nack: the broker is up.
const REFUSED: &str = "broker refused the message";

fn qerr(e: impl std::fmt::Display) -> QueueError {
    QueueError(e.to_string())
}

/// Delays are rounded up (100 ms under 10 s, whole seconds above) so that arbitrary delays map
/// onto few wait queues.
fn tier_ms(delay: Duration) -> u64 {
    let ms = delay.as_millis() as u64;
    if ms == 0 {
        0
    } else if ms < 10_000 {
        ms.div_ceil(100) * 100
    } else {
        ms.div_ceil(1000) * 1000
    }
}

impl AmqpQueue {
    /// Connects with its own health tracker and a 5 s bound (test clean-up).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, QueueError> {
        Self::connect_with(url, prefix, BackendHealth::new(Duration::from_secs(5))).await
    }

    /// Connects once to fail fast on a bad URL; later disconnects are survived. Publishes are
    /// bounded by `health`'s timeout and report to it; while RabbitMQ is down it is probed by
    /// opening a connection.
    pub async fn connect_with(url: &str, prefix: &str, health: BackendHealth) -> Result<Self, QueueError> {
        let q = Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            publisher: tokio::sync::Mutex::new(None),
            declared: Mutex::new(HashSet::new()),
            stopped: Arc::new(AtomicBool::new(false)),
            health: health.clone(),
            consumer: InFlight::new(),
            handlers: InFlight::new(),
        };
        q.publish_channel().await?;
        let probe_url = url.to_owned();
        health.set_probe(
            Backend::Amqp,
            Arc::new(move || {
                let url = probe_url.clone();
                Box::pin(async move {
                    let conn =
                        Connection::connect(&url, ConnectionProperties::default()).await.map_err(|e| e.to_string())?;
                    let _ = conn.close(200, "probe".into()).await;
                    Ok(())
                })
            }),
        );
        Ok(q)
    }

    /// `publish`, failing fast while RabbitMQ is down and bounded by the backend timeout.
    async fn publish_guarded(&self, env: &Envelope, delay: Duration) -> Result<(), QueueError> {
        self.health.admit(Backend::Amqp).map_err(|d| QueueError(d.to_string()))?;
        match tokio::time::timeout(self.health.timeout(), self.publish(env, delay)).await {
            Ok(Ok(())) => {
                self.health.success(Backend::Amqp);
                Ok(())
            }
            Ok(Err(e)) => {
                if e.0 != REFUSED && !self.stopped.load(Ordering::Relaxed) {
                    self.health.failure(Backend::Amqp, &e);
                }
                Err(e)
            }
            Err(_) => {
                // The channel may be wedged: the next publish opens a new one.
                if let Ok(mut g) = self.publisher.try_lock() {
                    *g = None;
                }
                let e = QueueError(format!("no publisher confirm within {} ms", self.health.timeout().as_millis()));
                self.health.failure(Backend::Amqp, &e);
                Err(e)
            }
        }
    }

    fn work_queue(&self) -> String {
        format!("{}.work", self.prefix)
    }

    fn wait_queue(&self, ms: u64) -> String {
        format!("{}.wait.{ms}", self.prefix)
    }

    async fn publish_channel(&self) -> Result<Channel, QueueError> {
        let mut guard = self.publisher.lock().await;
        if let Some((conn, ch)) = guard.as_ref() {
            if conn.status().connected() && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            Connection::connect(&self.url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| QueueError("connect to RabbitMQ timed out".into()))?
        .map_err(qerr)?;
        let ch = conn.create_channel().await.map_err(qerr)?;
        ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(qerr)?;
        declare_work_queue(&ch, &self.work_queue()).await?;
        self.declared.lock().clear();
        *guard = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn publish(&self, env: &Envelope, delay: Duration) -> Result<(), QueueError> {
        if self.stopped.load(Ordering::Relaxed) {
            // A stopped queue declares nothing again (its queues may have been deleted).
            return Err(QueueError("the delay queue is stopped".into()));
        }
        let body = serde_json::to_vec(env).map_err(qerr)?;
        let ms = tier_ms(delay);
        let mut last_err = None;
        // One retry covers a connection the broker dropped since the last publish.
        for _ in 0..2 {
            let ch = match self.publish_channel().await {
                Ok(c) => c,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let routing = if ms == 0 {
                self.work_queue()
            } else {
                let name = self.wait_queue(ms);
                if !self.declared.lock().contains(&ms) {
                    if let Err(e) = declare_wait_queue(&ch, &name, ms, &self.work_queue()).await {
                        last_err = Some(e);
                        *self.publisher.lock().await = None;
                        continue;
                    }
                    self.declared.lock().insert(ms);
                }
                name
            };
            let confirm = ch
                .basic_publish(
                    "".into(),
                    routing.as_str().into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &body,
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_content_type("application/json".into())
                        .with_message_id(env.job.id.as_str().into()),
                )
                .await;
            match confirm {
                Ok(pc) => match pc.await {
                    Ok(c) if c.is_ack() => return Ok(()),
                    Ok(_) => last_err = Some(QueueError(REFUSED.into())),
                    Err(e) => last_err = Some(qerr(e)),
                },
                Err(e) => last_err = Some(qerr(e)),
            }
            *self.publisher.lock().await = None;
        }
        Err(last_err.unwrap_or_else(|| QueueError("publish failed".into())))
    }

    /// Deletes the work queue and every wait queue this process declared (test clean-up).
    pub async fn delete_queues(&self, extra_delays: &[Duration]) -> Result<(), QueueError> {
        let ch = self.publish_channel().await?;
        let mut tiers: Vec<u64> = self.declared.lock().iter().copied().collect();
        tiers.extend(extra_delays.iter().map(|d| tier_ms(*d)));
        for ms in tiers {
            let _ = ch.queue_delete(self.wait_queue(ms).as_str().into(), QueueDeleteOptions::default()).await;
        }
        ch.queue_delete(self.work_queue().as_str().into(), QueueDeleteOptions::default()).await.map_err(qerr)?;
        Ok(())
    }
}

async fn declare_work_queue(ch: &Channel, name: &str) -> Result<(), QueueError> {
    ch.queue_declare(name.into(), QueueDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
        .await
        .map_err(qerr)?;
    Ok(())
}

async fn declare_wait_queue(ch: &Channel, name: &str, ms: u64, work: &str) -> Result<(), QueueError> {
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms as i64));
    args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from("")));
    args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(LongString::from(work)));
    ch.queue_declare(name.into(), QueueDeclareOptions { durable: true, ..Default::default() }, args)
        .await
        .map_err(qerr)?;
    Ok(())
}

#[async_trait::async_trait]
impl DelayQueue for AmqpQueue {
    async fn schedule(&self, kind: &str, payload: serde_json::Value, delay: Duration) -> Result<String, QueueError> {
        let job = new_job(kind, payload, delay);
        let id = job.id.clone();
        self.publish_guarded(&Envelope { job, attempts: 0 }, delay).await?;
        Ok(id)
    }

    async fn start(&self, router: Arc<JobRouter>) -> Result<(), QueueError> {
        let url = self.url.clone();
        let work = self.work_queue();
        let stopped = self.stopped.clone();
        // Failed jobs are re-published through this queue's own wait queues.
        let retry = Arc::new(AmqpQueue {
            url: self.url.clone(),
            prefix: self.prefix.clone(),
            publisher: tokio::sync::Mutex::new(None),
            declared: Mutex::new(HashSet::new()),
            stopped: self.stopped.clone(),
            health: self.health.clone(),
            consumer: InFlight::new(),
            handlers: InFlight::new(),
        });
        let health = self.health.clone();
        let handlers = self.handlers.clone();
        let alive = self.consumer.enter();
        tokio::spawn(async move {
            let _alive = alive;
            // Reconnects with backoff; the health tracker logs the outage once, not per attempt.
            let mut wait = Duration::from_millis(100);
            while !stopped.load(Ordering::Relaxed) {
                match consume(&url, &work, &router, &retry, &stopped, &health, &handlers).await {
                    Ok(()) => wait = Duration::from_millis(100),
                    Err((e, was_consuming)) => {
                        if was_consuming {
                            wait = Duration::from_millis(100);
                        }
                        if !stopped.load(Ordering::Relaxed) {
                            health.failure(Backend::Amqp, &format_args!("consumer: {e}"));
                        }
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        });
        Ok(())
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.health.admit(Backend::Amqp).map_err(|d| QueueError(d.to_string()))?;
        match tokio::time::timeout(self.health.timeout(), self.publish_channel()).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(QueueError("RabbitMQ did not answer in time".into())),
        }
    }

    fn backend(&self) -> &'static str {
        "rabbitmq"
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    async fn drain(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            self.consumer.idle().await;
            self.handlers.idle().await;
        })
        .await
        .is_ok()
    }
}
