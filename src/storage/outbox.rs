//! The transactional outbox: deferred work that must not be lost is written as a row in the same
//! transaction as the change that needs it (an order and its expiry), so the two commit or fail
//! together. A relay then moves each row into the delay queue and deletes it once the queue has
//! confirmed it. While the queue (RabbitMQ) is unreachable the rows wait in the database and are
//! relayed when it returns; a crash between commit and relay only delays the job, since any
//! node's relay picks the row up.
//!
//! Delivery is at least once: a relay that dies after the queue confirmed but before the delete
//! relays the row again, so every handler of outbox work must be idempotent (the row's status
//! decides, as with every delay-queue job).

use super::entities::outbox as ob;
use super::queue::{backoff, DelayQueue};
use crate::clock::now_ms;
use futures_util::StreamExt;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a relay's claim on a row lasts; a row whose relay died is taken again after it.
const CLAIM_MS: i64 = 30_000;
/// How often the relay looks for rows when nobody woke it (rows of other nodes, or of a crash).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Rows taken per pass, and how many are handed to the queue at once.
const BATCH: u64 = 256;
const IN_FLIGHT: usize = 16;

/// Writes one outbox row on `c` (a transaction, normally: the business change's own). The job
/// `kind` runs with `payload` at `due_at` (ms since the epoch; the past means now). Call
/// [`Outbox::wake`] after the transaction commits so the row is relayed at once.
pub async fn add<C: ConnectionTrait>(
    c: &C,
    kind: &str,
    payload: &serde_json::Value,
    due_at: i64,
) -> Result<String, DbErr> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    ob::Entity::insert(ob::ActiveModel {
        id: Set(id.clone()),
        kind: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        due_at: Set(due_at),
        created_at: Set(now_ms()),
        attempts: Set(0),
        locked_until: Set(0),
    })
    .exec(c)
    .await?;
    Ok(id)
}

/// The outbox of one node: writes rows that have no transaction of their own, and runs the
/// relay that empties the table into the delay queue.
#[derive(Clone)]
pub struct Outbox {
    db: DatabaseConnection,
    queue: Arc<dyn DelayQueue>,
    wake: Arc<Notify>,
    stopped: Arc<AtomicBool>,
    started: Arc<AtomicBool>,
    /// Relay passes in a row that could not reach the queue (drives the back-off).
    failures: Arc<AtomicU32>,
}

/// What one relay pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub relayed: usize,
    pub failed: usize,
    /// The batch was full: more rows may be waiting.
    pub more: bool,
}

impl Outbox {
    pub fn new(db: DatabaseConnection, queue: Arc<dyn DelayQueue>) -> Self {
        Self {
            db,
            queue,
            wake: Arc::new(Notify::new()),
            stopped: Arc::new(AtomicBool::new(false)),
            started: Arc::new(AtomicBool::new(false)),
            failures: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Schedules `kind` to run after `delay`, durably: answers once the row is committed, even
    /// while the queue is down. For call sites whose change is already committed on its own;
    /// where there is a transaction, use [`add`] inside it and [`Outbox::wake`] after.
    pub async fn schedule(&self, kind: &str, payload: serde_json::Value, delay: Duration) -> Result<String, DbErr> {
        let id = add(&self.db, kind, &payload, now_ms() + delay.as_millis() as i64).await?;
        self.wake();
        Ok(id)
    }

    /// A row was committed: relay it now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Rows not relayed yet (for health and tests).
    pub async fn waiting(&self) -> Result<u64, DbErr> {
        ob::Entity::find().count(&self.db).await
    }

    /// Starts the relay task (once; later calls do nothing).
    pub fn start(&self) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            while !me.stopped.load(Ordering::Relaxed) {
                let sleep_for = match me.relay_once().await {
                    Ok(p) if p.failed > 0 => {
                        let n = me.failures.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::warn!(failed = p.failed, "outbox: the delay queue is unreachable; rows wait");
                        backoff(n)
                    }
                    Ok(p) => {
                        me.failures.store(0, Ordering::Relaxed);
                        if p.more {
                            Duration::ZERO
                        } else {
                            IDLE_POLL
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox relay pass failed");
                        Duration::from_secs(1)
                    }
                };
                if me.failures.load(Ordering::Relaxed) > 0 {
                    // The queue is down: new rows wait for the back-off instead of each
                    // waking a relay pass that would fail again.
                    tokio::time::sleep(sleep_for).await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(sleep_for) => {}
                        _ = me.wake.notified() => {}
                    }
                }
            }
        });
    }

    /// Stops the relay (tests start a second app on the same storage).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// One relay pass: claims the oldest unclaimed rows, hands each to the queue with the delay
    /// left until it is due, and deletes it once the queue confirmed. A row the queue refused
    /// is released with a back-off.
    pub async fn relay_once(&self) -> Result<Pass, DbErr> {
        let now = now_ms();
        let rows = ob::Entity::find()
            .filter(ob::Column::LockedUntil.lt(now))
            .order_by_asc(ob::Column::CreatedAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 == BATCH;
        let results: Vec<Result<Option<bool>, DbErr>> =
            futures_util::stream::iter(rows.into_iter().map(|row| self.relay_row(row, now)))
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
        let mut pass = Pass { more, ..Pass::default() };
        for r in results {
            match r? {
                Some(true) => pass.relayed += 1,
                Some(false) => pass.failed += 1,
                None => {}
            }
        }
        Ok(pass)
    }

    /// Claims, relays and deletes one row: `None` when another relay has it, `Some(false)`
    /// when the queue refused it.
    async fn relay_row(&self, row: ob::Model, now: i64) -> Result<Option<bool>, DbErr> {
        let claimed = ob::Entity::update_many()
            .col_expr(ob::Column::LockedUntil, Expr::value(now + CLAIM_MS))
            .filter(ob::Column::Id.eq(row.id.clone()))
            .filter(ob::Column::LockedUntil.eq(row.locked_until))
            .exec(&self.db)
            .await?;
        if claimed.rows_affected != 1 {
            return Ok(None);
        }
        let payload = serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
        let delay = Duration::from_millis((row.due_at - now_ms()).max(0) as u64);
        match self.queue.schedule(&row.kind, payload, delay).await {
            Ok(_) => {
                ob::Entity::delete_by_id(row.id.clone()).exec(&self.db).await?;
                Ok(Some(true))
            }
            Err(e) => {
                let attempts = row.attempts + 1;
                tracing::warn!(row = %row.id, kind = %row.kind, attempts, error = %e, "outbox: relay failed; retrying later");
                ob::Entity::update_many()
                    .col_expr(ob::Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        ob::Column::LockedUntil,
                        Expr::value(now_ms() + backoff(attempts.max(1) as u32).as_millis() as i64),
                    )
                    .filter(ob::Column::Id.eq(row.id.clone()))
                    .exec(&self.db)
                    .await?;
                Ok(Some(false))
            }
        }
    }
}
