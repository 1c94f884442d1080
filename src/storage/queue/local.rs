//! Local delay queue: jobs are rows of `delayed_jobs`, so a restart loses none. A worker claims a
//! due row by moving its `locked_until` ahead with a conditional update (several processes on
//! one database never run the same claim), runs it, and deletes the row after success. Once
//! stopped it claims nothing more; jobs it claimed still run, and `drain` waits for them.

use super::{backoff, new_job, DelayQueue, InFlight, Job, JobRouter, QueueError};
use crate::clock::now_ms;
use crate::storage::entities::delayed_jobs as dj;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// How long a claim lasts; a job whose worker died is picked up again after it.
const CLAIM_MS: i64 = 60_000;
/// How long the dispatcher sleeps when it knows of nothing due sooner.
const IDLE_POLL: Duration = Duration::from_millis(500);

pub struct LocalQueue {
    db: DatabaseConnection,
    wake: Arc<Notify>,
    stopped: Arc<AtomicBool>,
    /// The dispatcher loop and every job it started, until the job's row is deleted or updated.
    running: InFlight,
}

fn qerr(e: impl std::fmt::Display) -> QueueError {
    QueueError(e.to_string())
}

impl LocalQueue {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, wake: Arc::new(Notify::new()), stopped: Arc::new(AtomicBool::new(false)), running: InFlight::new() }
    }
}

#[async_trait::async_trait]
impl DelayQueue for LocalQueue {
    async fn schedule(&self, kind: &str, payload: serde_json::Value, delay: Duration) -> Result<String, QueueError> {
        let job = new_job(kind, payload, delay);
        dj::Entity::insert(dj::ActiveModel {
            id: Set(job.id.clone()),
            kind: Set(job.kind.clone()),
            payload: Set(job.payload.to_string()),
            due_at: Set(job.due_at),
            attempts: Set(0),
            locked_until: Set(0),
        })
        .exec(&self.db)
        .await
        .map_err(qerr)?;
        self.wake.notify_one();
        Ok(job.id)
    }

    async fn start(&self, router: Arc<JobRouter>) -> Result<(), QueueError> {
        let db = self.db.clone();
        let wake = self.wake.clone();
        let stopped = self.stopped.clone();
        let running = self.running.clone();
        let alive = running.enter();
        tokio::spawn(async move {
            let _alive = alive;
            let permits = Arc::new(Semaphore::new(64));
            while !stopped.load(Ordering::SeqCst) {
                let sleep_for = match run_due(&db, &router, &permits, &stopped, &running).await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::warn!(error = %e, "local delay queue poll failed");
                        Duration::from_secs(1)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(sleep_for) => {}
                    _ = wake.notified() => {}
                }
            }
        });
        Ok(())
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.db.ping().await.map_err(qerr)
    }

    fn backend(&self) -> &'static str {
        "local"
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    async fn drain(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.running.idle()).await.is_ok()
    }
}

/// Claims and starts every due job (none once `stopped`); returns how long to sleep before the
/// next one is due.
async fn run_due(
    db: &DatabaseConnection,
    router: &Arc<JobRouter>,
    permits: &Arc<Semaphore>,
    stopped: &AtomicBool,
    running: &InFlight,
) -> anyhow::Result<Duration> {
    let now = now_ms();
    let due = dj::Entity::find()
        .filter(dj::Column::DueAt.lte(now))
        .filter(dj::Column::LockedUntil.lt(now))
        .order_by_asc(dj::Column::DueAt)
        .limit(256)
        .all(db)
        .await?;
    let full_batch = due.len() == 256;
    for row in due {
        if stopped.load(Ordering::SeqCst) {
            break;
        }
        let claimed = dj::Entity::update_many()
            .col_expr(dj::Column::LockedUntil, Expr::value(now + CLAIM_MS))
            .filter(dj::Column::Id.eq(row.id.clone()))
            .filter(dj::Column::LockedUntil.eq(row.locked_until))
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue; // another worker has it
        }
        let permit = permits.clone().acquire_owned().await?;
        let db = db.clone();
        let router = router.clone();
        let job_running = running.enter();
        tokio::spawn(async move {
            let _permit = permit;
            let _running = job_running;
            let job = Job {
                id: row.id.clone(),
                kind: row.kind.clone(),
                payload: serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null),
                due_at: row.due_at,
            };
            let outcome = router.dispatch(&job).await;
            let res = match outcome {
                Ok(()) => dj::Entity::delete_by_id(row.id.clone()).exec(&db).await.map(|_| ()),
                Err(e) => {
                    let attempts = row.attempts + 1;
                    tracing::warn!(job = %row.id, kind = %row.kind, attempts, error = %format!("{e:#}"), "job failed; retrying later");
                    dj::Entity::update_many()
                        .col_expr(dj::Column::Attempts, Expr::value(attempts))
                        .col_expr(
                            dj::Column::DueAt,
                            Expr::value(now_ms() + backoff(attempts as u32).as_millis() as i64),
                        )
                        .col_expr(dj::Column::LockedUntil, Expr::value(0i64))
                        .filter(dj::Column::Id.eq(row.id.clone()))
                        .exec(&db)
                        .await
                        .map(|_| ())
                }
            };
            if let Err(e) = res {
                tracing::warn!(job = %row.id, error = %e, "could not record a job's outcome; it will run again");
            }
        });
    }
    if full_batch {
        return Ok(Duration::ZERO);
    }
    let next =
        dj::Entity::find().filter(dj::Column::LockedUntil.lt(now)).order_by_asc(dj::Column::DueAt).one(db).await?;
    Ok(match next {
        Some(r) => Duration::from_millis((r.due_at - now_ms()).clamp(1, IDLE_POLL.as_millis() as i64) as u64),
        None => IDLE_POLL,
    })
}
