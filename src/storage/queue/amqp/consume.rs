//! The consuming side: one consumer on the work queue, each delivery handled and acked after
//! its handler committed (a failure re-published to a back-off wait queue); a stopping consumer
//! hands back what it had not started and waits for what runs.

use super::*;

pub(super) async fn consume(
    url: &str,
    work: &str,
    router: &Arc<JobRouter>,
    retry: &Arc<AmqpQueue>,
    stopped: &Arc<AtomicBool>,
    health: &BackendHealth,
    handlers: &InFlight,
) -> Result<(), (QueueError, bool)> {
    let setup = async {
        let conn = Connection::connect(url, ConnectionProperties::default()).await.map_err(qerr)?;
        let ch = conn.create_channel().await.map_err(qerr)?;
        declare_work_queue(&ch, work).await?;
        ch.basic_qos(64, BasicQosOptions::default()).await.map_err(qerr)?;
        let tag = format!("liveroom-{}", uuid::Uuid::new_v4().simple());
        let consumer = ch
            .basic_consume(work.into(), tag.as_str().into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(qerr)?;
        Ok::<_, QueueError>((conn, ch, consumer))
    };
    let (conn, ch, mut consumer) = match tokio::time::timeout(health.timeout().max(Duration::from_secs(2)), setup).await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err((e, false)),
        Err(_) => return Err((QueueError("connecting the consumer timed out".into()), false)),
    };
    health.success(Backend::Amqp);
    let mut stop_check = tokio::time::interval(Duration::from_millis(200));
    loop {
        let next = tokio::select! {
            d = consumer.next() => d,
            _ = stop_check.tick() => {
                if stopped.load(Ordering::Relaxed) {
                    wind_down(&ch, &mut consumer, handlers).await;
                    let _ = conn.close(200, "stopping".into()).await;
                    return Ok(());
                }
                continue;
            }
        };
        let Some(delivery) = next else {
            return Err((QueueError("consumer stream ended".into()), true));
        };
        let delivery = delivery.map_err(|e| (qerr(e), true))?;
        if stopped.load(Ordering::Relaxed) {
            // Stopped since the last check: not started, so handed back (the next tick winds down).
            let _ = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
            continue;
        }
        let router = router.clone();
        let retry = retry.clone();
        let running = handlers.enter();
        tokio::spawn(async move {
            let _running = running;
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
                    tracing::warn!(job = %env.job.id, kind = %env.job.kind, attempts, error = %format!("{e:#}"), "job failed; retrying later");
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

/// A stopping consumer: no more deliveries are taken; those the broker had already sent go back
/// to it at once, and the connection stays open until every running handler has acked (or
/// handed back) its delivery.
async fn wind_down(ch: &Channel, consumer: &mut lapin::Consumer, handlers: &InFlight) {
    let cancelled =
        tokio::time::timeout(Duration::from_secs(5), ch.basic_cancel(consumer.tag(), BasicCancelOptions::default()))
            .await;
    if matches!(cancelled, Ok(Ok(()))) {
        // After the cancel the stream ends; what it still yields was never started.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(d)) = consumer.next().await {
                let _ = d.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
            }
        })
        .await;
    }
    handlers.idle().await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
