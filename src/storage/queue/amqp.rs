//! RabbitMQ delay queue, no plugin: one durable wait queue per delay (`x-message-ttl`) that
//! dead-letters into one durable work queue. Messages are persistent, publisher confirms are on,
//! a delivery is acked only after its handler committed, a failed one is re-published to a
//! back-off wait queue, and both sides reconnect after the broker restarts.

use super::{backoff, new_job, DelayQueue, Job, JobRouter, QueueError};
use futures_util::StreamExt;
use lapin::{
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
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
}

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
    /// Connects once to fail fast on a bad URL; later disconnects are survived.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, QueueError> {
        let q = Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            publisher: tokio::sync::Mutex::new(None),
            declared: Mutex::new(HashSet::new()),
            stopped: Arc::new(AtomicBool::new(false)),
        };
        q.publish_channel().await?;
        Ok(q)
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
                    Ok(_) => last_err = Some(QueueError("broker refused the message".into())),
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
        self.publish(&Envelope { job, attempts: 0 }, delay).await?;
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
        });
        tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                if let Err(e) = consume(&url, &work, &router, &retry, &stopped).await {
                    tracing::warn!(error = %e, "RabbitMQ consumer lost its connection; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(())
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.publish_channel().await.map(|_| ())
    }

    fn backend(&self) -> &'static str {
        "rabbitmq"
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

async fn consume(
    url: &str,
    work: &str,
    router: &Arc<JobRouter>,
    retry: &Arc<AmqpQueue>,
    stopped: &Arc<AtomicBool>,
) -> Result<(), QueueError> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await.map_err(qerr)?;
    let ch = conn.create_channel().await.map_err(qerr)?;
    declare_work_queue(&ch, work).await?;
    ch.basic_qos(64, BasicQosOptions::default()).await.map_err(qerr)?;
    let tag = format!("liveroom-{}", uuid::Uuid::new_v4().simple());
    let mut consumer = ch
        .basic_consume(work.into(), tag.as_str().into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(qerr)?;
    let mut stop_check = tokio::time::interval(Duration::from_millis(200));
    loop {
        let next = tokio::select! {
            d = consumer.next() => d,
            _ = stop_check.tick() => {
                if stopped.load(Ordering::Relaxed) {
                    let _ = conn.close(200, "stopping".into()).await;
                    return Ok(());
                }
                continue;
            }
        };
        let Some(delivery) = next else {
            return Err(QueueError("consumer stream ended".into()));
        };
        let delivery = delivery.map_err(qerr)?;
        let router = router.clone();
        let retry = retry.clone();
        tokio::spawn(async move {
            let env: Envelope = match serde_json::from_slice(&delivery.data) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "dropping an undecodable delay-queue message");
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                    return;
                }
            };
            match router.dispatch(&env.job).await {
                Ok(()) => {
                    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                        tracing::warn!(error = %e, job = %env.job.id, "ack failed; the job will be delivered again");
                    }
                }
                Err(e) => {
                    let attempts = env.attempts + 1;
                    tracing::warn!(job = %env.job.id, kind = %env.job.kind, attempts, error = %e, "job failed; retrying later");
                    let again = Envelope { job: env.job, attempts };
                    match retry.publish(&again, backoff(attempts)).await {
                        Ok(()) => {
                            let _ = delivery.ack(BasicAckOptions::default()).await;
                        }
                        Err(_) => {
                            let _ = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
                        }
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn delays_round_up_to_few_tiers() {
        assert_eq!(tier_ms(Duration::ZERO), 0);
        assert_eq!(tier_ms(Duration::from_millis(1)), 100);
        assert_eq!(tier_ms(Duration::from_millis(2000)), 2000);
        assert_eq!(tier_ms(Duration::from_millis(10_001)), 11_000);
    }
}
