//! Wallet writes with group commit. Every balance change commits in the same transaction as its
//! trade row, unique per `(kind, ref)` so a retried credit applies once, and a debit applies only
//! where the balance covers it. One writer task gathers concurrent writes into one batch (bounded
//! size and wait) and commits the batch set-based: a fixed handful of statements whatever its
//! size (see `batch.rs`). Each caller is answered only after its own write is committed; a write
//! that fails its condition is answered on its own and never fails the others, and a batch that
//! fails as a whole is re-run one write at a time. The writer runs each write's `on_commit` in
//! commit order.

mod batch;
mod effects;
mod sql;

use super::entities::{earnings, trades, wallets};
use super::idgen::IdGen;
use crate::domain::money::TradeKind;
use futures_util::stream::{FuturesOrdered, StreamExt};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What must happen in the same transaction as a balance change.
#[derive(Debug, Clone)]
pub enum Effect {
    None,
    /// Record a gift (rankings are rebuilt from these rows), counted in `pk_id` while that PK
    /// runs and is undecided (its tally is written in the same transaction).
    GiftSend {
        room_id: i64,
        to_id: i64,
        gift_id: i64,
        count: i64,
        pk_id: Option<i64>,
    },
    /// Mark a recharge paid; refused when it is not pending.
    MarkRechargePaid {
        recharge_id: i64,
    },
    /// Claim an unclaimed red packet for the write's user; refused when it is claimed or
    /// refunded. Claims of a batch are checked and written set-based, like the balances.
    ClaimPacket {
        packet_id: i64,
    },
    /// Run guarded statements: the write is refused (and its balance left alone) unless each
    /// changes exactly one row. Used by orders and a rain's preparation; one statement each,
    /// so keep them off hot paths.
    Guards(Vec<sea_orm::Statement>),
}

#[derive(Debug, Clone)]
pub struct WalletOp {
    pub user_id: i64,
    /// Positive credits, negative debits.
    pub delta: i64,
    pub kind: TradeKind,
    pub r#ref: String,
    pub effect: Effect,
    /// The trade in words, for the user's list ("Gift sent: Rocket ×1").
    pub note: Option<String>,
    /// A debit that pays an anchor: their part is credited to their income in the same
    /// transaction (with an `earnings` row), the rest is the platform's fee.
    pub earning: Option<Earning>,
}

impl WalletOp {
    /// A write with no note and no earning.
    pub fn new(user_id: i64, delta: i64, kind: TradeKind, r#ref: impl Into<String>, effect: Effect) -> Self {
        Self { user_id, delta, kind, r#ref: r#ref.into(), effect, note: None, earning: None }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn paying(mut self, earning: Earning) -> Self {
        self.earning = Some(earning);
        self
    }
}

/// What a debit pays an anchor: `-delta - fee` goes to their income.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earning {
    pub anchor_id: i64,
    pub kind: EarningKind,
    pub room_id: Option<i64>,
    /// What was bought, in words ("Rocket ×1").
    pub title: String,
    /// The platform's share of the debit (`money::platform_fee`).
    pub fee: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarningKind {
    Gift,
    Order,
}

impl EarningKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gift => "gift",
            Self::Order => "order",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done {
        trade_id: i64,
        balance: i64,
        /// A gift counted in a PK: the PK's tally with it.
        pk: Option<crate::domain::pk::PkTally>,
    },
    Insufficient,
    /// The `(kind, ref)` was applied before: nothing changed; the earlier trade is named.
    Duplicate {
        trade_id: i64,
        balance: i64,
    },
    /// The effect's guard matched no row: nothing changed.
    Refused,
}

pub type OnCommit = Box<dyn FnOnce(&Outcome) + Send>;

struct Request {
    op: WalletOp,
    reply: oneshot::Sender<Result<Outcome, WalletError>>,
    on_commit: Option<OnCommit>,
}

#[derive(Clone)]
pub struct Wallets {
    tx: mpsc::Sender<Request>,
    db: DatabaseConnection,
}

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("wallet writer: {0}")]
    Failed(String),
    /// The database is unreachable, or did not answer within the writer's deadline. Refused at
    /// the door, nothing was written; cut off by the deadline, the write may have committed, and
    /// a retry with the same `(kind, ref)` applies it at most once.
    #[error("wallet writer: database unavailable: {0}")]
    Unavailable(String),
}

/// How the writer gathers and runs batches.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Writes per batch at most.
    batch_max: usize,
    /// How long a batch keeps gathering writes once it has one.
    batch_wait: Duration,
    /// A batch that takes longer (a database that stopped answering in the middle of it) is
    /// given up and its writes answered `Unavailable`, so the writer never hangs on a dead
    /// connection.
    deadline: Duration,
    /// Batches running at once: `IN_FLIGHT`, one on SQLite (one writer).
    in_flight: usize,
}

/// Batches running at once on Postgres/MySQL. With two, the next batch is read and written
/// while the one before waits for its commit; batches that share a wallet still run one after
/// the other (the second waits for the first's row locks).
const IN_FLIGHT: usize = 2;

impl Wallets {
    /// Starts the writer task: `batch_max` writes or `batch_wait` of gathering make a batch,
    /// `IN_FLIGHT` batches run at once (one on SQLite), a batch is given up after `deadline`.
    pub fn start(
        db: DatabaseConnection,
        ids: IdGen,
        batch_max: usize,
        batch_wait: Duration,
        deadline: Duration,
    ) -> Self {
        let in_flight = if db.get_database_backend() == DbBackend::Sqlite { 1 } else { IN_FLIGHT };
        let limits = Limits { batch_max: batch_max.max(1), batch_wait, deadline, in_flight };
        let (tx, rx) = mpsc::channel(limits.batch_max * 16);
        tokio::spawn(writer(db.clone(), ids, rx, limits));
        Self { tx, db }
    }

    /// Applies one write; answers after it is committed.
    pub async fn apply(&self, op: WalletOp) -> Result<Outcome, WalletError> {
        self.apply_then(op, None).await
    }

    /// Applies one write and runs `on_commit` in the writer, in commit order.
    pub async fn apply_then(&self, op: WalletOp, on_commit: Option<OnCommit>) -> Result<Outcome, WalletError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { op, reply, on_commit })
            .await
            .map_err(|_| WalletError::Failed("writer stopped".into()))?;
        rx.await.map_err(|_| WalletError::Failed("writer dropped the write".into()))?
    }

    pub async fn balance(&self, user_id: i64) -> Result<i64, DbErr> {
        Ok(self.wallet(user_id).await?.0)
    }

    /// The user's balance and income.
    pub async fn wallet(&self, user_id: i64) -> Result<(i64, i64), DbErr> {
        Ok(wallets::Entity::find_by_id(user_id).one(&self.db).await?.map(|w| (w.balance, w.income)).unwrap_or((0, 0)))
    }

    /// A page of the anchor's earnings, newest first, and the total.
    pub async fn earnings(&self, user_id: i64, offset: u64, limit: u64) -> Result<(Vec<earnings::Model>, u64), DbErr> {
        let q = earnings::Entity::find().filter(earnings::Column::UserId.eq(user_id));
        let total = q.clone().count(&self.db).await?;
        let items = q
            .order_by_desc(earnings::Column::CreatedAt)
            .order_by_desc(earnings::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((items, total))
    }

    pub async fn trade_by_ref(&self, kind: TradeKind, r#ref: &str) -> Result<Option<trades::Model>, DbErr> {
        trades::Entity::find()
            .filter(trades::Column::Kind.eq(kind.as_str()))
            .filter(trades::Column::Ref.eq(r#ref))
            .one(&self.db)
            .await
    }

    /// A page of the user's trades, newest first, and the total.
    pub async fn trades(&self, user_id: i64, offset: u64, limit: u64) -> Result<(Vec<trades::Model>, u64), DbErr> {
        let q = trades::Entity::find().filter(trades::Column::UserId.eq(user_id));
        let total = q.clone().count(&self.db).await?;
        let items = q
            .order_by_desc(trades::Column::CreatedAt)
            .order_by_desc(trades::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((items, total))
    }
}

/// `batch::run` bounded by the deadline; past it, the database counts as unreachable.
async fn run_bounded(
    db: &DatabaseConnection,
    ids: &IdGen,
    ops: &[&WalletOp],
    deadline: Duration,
) -> Result<Vec<Outcome>, DbErr> {
    match tokio::time::timeout(deadline, batch::run(db, ids, ops)).await {
        Ok(r) => r,
        Err(_) => Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
    }
}

/// Gathers batches and runs up to `in_flight` of them at once, each on its own task. Batches
/// are answered, and their `on_commit`s run, in the order they were gathered: a batch that
/// shares a wallet with an earlier one commits after it (row locks), so this is commit order
/// wherever order can matter.
async fn writer(db: DatabaseConnection, ids: IdGen, mut rx: mpsc::Receiver<Request>, limits: Limits) {
    let mut running = FuturesOrdered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some(done) = running.next(), if !running.is_empty() => {
                match done {
                    Ok(answered) => answer(answered),
                    Err(e) => tracing::error!(error = %e, "wallet batch task failed"),
                }
            }
            first = rx.recv(), if open && running.len() < limits.in_flight => {
                let Some(first) = first else {
                    open = false;
                    continue;
                };
                let batch = gather(first, &mut rx, &limits).await;
                running.push_back(tokio::spawn(run_requests(db.clone(), ids.clone(), batch, limits.deadline)));
            }
            else => break,
        }
    }
}

/// `first` and whatever else arrives within the batch's size and wait.
async fn gather(first: Request, rx: &mut mpsc::Receiver<Request>, limits: &Limits) -> Vec<Request> {
    let mut batch = vec![first];
    while batch.len() < limits.batch_max {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
    if batch.len() < limits.batch_max && !limits.batch_wait.is_zero() {
        let until = tokio::time::Instant::now() + limits.batch_wait;
        while batch.len() < limits.batch_max {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                _ => break,
            }
        }
    }
    batch
}

type Answered = Vec<(Request, Result<Outcome, WalletError>)>;

/// Runs one batch; when it fails as a whole, its writes one by one.
async fn run_requests(db: DatabaseConnection, ids: IdGen, batch: Vec<Request>, deadline: Duration) -> Answered {
    let ops: Vec<&WalletOp> = batch.iter().map(|r| &r.op).collect();
    let results: Vec<Result<Outcome, WalletError>> = match run_bounded(&db, &ids, &ops, deadline).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        // The database is gone: one by one would wait out the timeout once per write.
        Err(e) if crate::storage::health::db_unreachable(&e) => {
            ops.iter().map(|_| Err(WalletError::Unavailable(e.to_string()))).collect()
        }
        Err(e) => {
            if batch.len() > 1 {
                tracing::warn!(error = %e, size = batch.len(), "wallet batch failed; applying its writes one by one");
            }
            let mut v = Vec::with_capacity(batch.len());
            for op in &ops {
                v.push(run_alone(&db, &ids, op, deadline).await);
            }
            v
        }
    };
    batch.into_iter().zip(results).collect()
}

/// Runs the `on_commit`s and answers the callers, in batch order.
fn answer(answered: Answered) {
    for (req, res) in answered {
        if let (Some(cb), Ok(o)) = (req.on_commit, &res) {
            cb(o);
        }
        let _ = req.reply.send(res);
    }
}

/// Applies one write in its own transaction, trying again after a deadlock or a lock timeout
/// (MySQL picks a victim when a batch and an order's expiry lock rows in different orders).
async fn run_alone(
    db: &DatabaseConnection,
    ids: &IdGen,
    op: &WalletOp,
    deadline: Duration,
) -> Result<Outcome, WalletError> {
    let mut last = String::new();
    for attempt in 0..4u64 {
        match run_bounded(db, ids, &[op], deadline).await {
            Ok(mut o) => return o.pop().ok_or_else(|| WalletError::Failed("no outcome".to_owned())),
            Err(e) if crate::storage::health::db_unreachable(&e) => {
                return Err(WalletError::Unavailable(e.to_string()))
            }
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(5 * (attempt + 1))).await;
            }
        }
    }
    Err(WalletError::Failed(last))
}
