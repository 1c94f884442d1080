//! The shape every timer job shares (the PK and rain end timers, the order expiry): read the
//! row's id from the payload, find the row; a gone or settled row needs nothing (delivery is
//! at least once, so duplicates and late timers are normal); a timer that fired early fails,
//! so the queue tries again later; otherwise the row is due.

use crate::clock::now_ms;
use crate::domain::order::OrderStatus;
use crate::domain::pk::PkStatus;
use crate::domain::redpacket::RainStatus;
use crate::storage::entities::{orders, pks, rains};
use crate::storage::queue::Job;
use crate::storage::{commerce, Stated};
use sea_orm::{DatabaseConnection, DbErr};
use std::future::Future;

/// How early a timer may fire and still count as due (the clocks of the queue and of the row
/// need not agree to the millisecond).
const EARLY_SLACK_MS: i64 = 50;

/// A row that a timer job settles when it is due.
pub trait Timed: Sized + Send {
    /// The payload's field that holds the row's id.
    const ID: &'static str;
    /// The timer, as the early-fire error names it.
    const TIMER: &'static str;
    fn find(db: &DatabaseConnection, id: i64) -> impl Future<Output = Result<Option<Self>, DbErr>> + Send;
    /// Whether the row still waits for its timer.
    fn waiting(&self) -> bool;
    /// When it is due (ms since the epoch); None: at once.
    fn due_at(&self) -> Option<i64>;
}

/// What a timer job found.
pub enum Fired<T> {
    /// No such row (or the payload names none): nothing to do.
    Gone,
    /// The row does not wait any more (settled elsewhere): nothing to do but tidy up.
    Settled(T),
    /// The row is due: settle it.
    Due(T),
}

/// Schedules `kind` (through the outbox, so it survives a broker outage) to fire at `ends_at`
/// (ms since the epoch; at once when that has passed): a timer resumed after a restart.
pub async fn schedule_at(
    svc: &super::Services,
    kind: &str,
    payload: serde_json::Value,
    ends_at: i64,
) -> anyhow::Result<()> {
    let left = std::time::Duration::from_millis((ends_at - now_ms()).max(0) as u64);
    svc.b.outbox.schedule(kind, payload, left).await?;
    Ok(())
}

/// Reads the job's row and says what to do with it; an error when the timer fired early.
pub async fn due<T: Timed>(db: &DatabaseConnection, job: &Job) -> anyhow::Result<Fired<T>> {
    let Some(id) = job.payload[T::ID].as_i64() else { return Ok(Fired::Gone) };
    let Some(row) = T::find(db, id).await? else { return Ok(Fired::Gone) };
    if !row.waiting() {
        return Ok(Fired::Settled(row));
    }
    if row.due_at().is_some_and(|at| at > now_ms() + EARLY_SLACK_MS) {
        anyhow::bail!("{} fired early; retrying", T::TIMER);
    }
    Ok(Fired::Due(row))
}

impl Timed for pks::Model {
    const ID: &'static str = "pk_id";
    const TIMER: &'static str = "PK timer";
    async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<Self>, DbErr> {
        crate::storage::pks::find(db, id).await
    }
    fn waiting(&self) -> bool {
        self.is(PkStatus::Running)
    }
    fn due_at(&self) -> Option<i64> {
        self.ends_at
    }
}

impl Timed for rains::Model {
    const ID: &'static str = "rain_id";
    const TIMER: &'static str = "rain timer";
    async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<Self>, DbErr> {
        crate::storage::rains::find(db, id).await
    }
    fn waiting(&self) -> bool {
        self.is(RainStatus::Running)
    }
    fn due_at(&self) -> Option<i64> {
        self.ends_at
    }
}

impl Timed for orders::Model {
    const ID: &'static str = "order_id";
    const TIMER: &'static str = "order expiry";
    async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<Self>, DbErr> {
        Ok(commerce::order(db, id).await?.map(|(o, _items)| o))
    }
    fn waiting(&self) -> bool {
        self.is(OrderStatus::Pending)
    }
    fn due_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}
