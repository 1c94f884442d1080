//! Wallet writes with group commit. Every balance change is a conditional update (a debit only
//! where `balance >= amount`) in the same transaction as its trade row, unique per `(kind, ref)`
//! so a retried credit applies once. One writer task gathers concurrent writes into one
//! transaction (bounded size and wait); each caller is answered only after its own write is
//! committed, and a batch that fails is re-run one write at a time, so one bad write never
//! fails the others. The writer runs each write's `on_commit` in commit order.

use super::entities::{gift_sends, recharges, trades, wallets};
use super::idgen::IdGen;
use crate::clock::now_ms;
use crate::domain::money::{RechargeStatus, TradeKind};
use sea_orm::{
    sea_query::{Expr, Query},
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What must happen in the same transaction as a balance change.
#[derive(Debug, Clone)]
pub enum Effect {
    None,
    /// Record a gift (rankings and PK scores are rebuilt from these rows).
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
    /// Run guarded statements: the write is refused (and its balance change undone) unless each
    /// changes exactly one row. Used by orders and red packets.
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done {
        trade_id: i64,
        balance: i64,
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

impl Wallets {
    /// Starts the writer task. `batch_max` writes or `batch_wait` of gathering make a batch;
    /// a batch that takes longer than `deadline` (a database that stopped answering in the
    /// middle of it) is given up and its writes answered `Unavailable`, so the writer never
    /// hangs on a dead connection.
    pub fn start(
        db: DatabaseConnection,
        ids: IdGen,
        batch_max: usize,
        batch_wait: Duration,
        deadline: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(batch_max.max(1) * 16);
        let limits = Limits { max: batch_max.max(1), wait: batch_wait, deadline };
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
        Ok(wallets::Entity::find_by_id(user_id).one(&self.db).await?.map(|w| w.balance).unwrap_or(0))
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

#[derive(Clone, Copy)]
struct Limits {
    max: usize,
    wait: Duration,
    deadline: Duration,
}

/// `run_batch` bounded by the deadline; past it, the database counts as unreachable.
async fn run_bounded(
    db: &DatabaseConnection,
    ids: &IdGen,
    ops: &[&WalletOp],
    deadline: Duration,
) -> Result<Vec<Outcome>, DbErr> {
    match tokio::time::timeout(deadline, run_batch(db, ids, ops)).await {
        Ok(r) => r,
        Err(_) => Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
    }
}

async fn writer(db: DatabaseConnection, ids: IdGen, mut rx: mpsc::Receiver<Request>, limits: Limits) {
    let Limits { max, wait, deadline } = limits;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if batch.len() < max && !wait.is_zero() {
            let deadline = tokio::time::Instant::now() + wait;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(r)) => batch.push(r),
                    _ => break,
                }
            }
        }
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
        for (req, res) in batch.into_iter().zip(results) {
            if let (Some(cb), Ok(o)) = (req.on_commit, &res) {
                cb(o);
            }
            let _ = req.reply.send(res);
        }
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

/// Adds `delta` to the balance (a debit only where it covers it); the new balance, or None.
async fn change_balance(
    tx: &DatabaseTransaction,
    user_id: i64,
    delta: i64,
    conditional: bool,
) -> Result<Option<i64>, DbErr> {
    let backend = tx.get_database_backend();
    let mut q = Query::update();
    q.table(wallets::Entity)
        .value(wallets::Column::Balance, Expr::col(wallets::Column::Balance).add(delta))
        .value(wallets::Column::UpdatedAt, now_ms())
        .and_where(wallets::Column::UserId.eq(user_id));
    if conditional && delta < 0 {
        q.and_where(wallets::Column::Balance.gte(-delta));
    }
    if backend == DbBackend::MySql {
        let r = tx.execute(backend.build(&q)).await?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        Ok(wallets::Entity::find_by_id(user_id).one(tx).await?.map(|w| w.balance))
    } else {
        q.returning_col(wallets::Column::Balance);
        let row = tx.query_one(backend.build(&q)).await?;
        row.map(|r| r.try_get::<i64>("", "balance")).transpose()
    }
}

async fn guard(tx: &DatabaseTransaction, effect: &Effect) -> Result<bool, DbErr> {
    match effect {
        Effect::None | Effect::GiftSend { .. } => Ok(true),
        Effect::MarkRechargePaid { recharge_id } => {
            let r = recharges::Entity::update_many()
                .col_expr(recharges::Column::Status, Expr::value(RechargeStatus::Paid.as_str()))
                .filter(recharges::Column::Id.eq(*recharge_id))
                .filter(recharges::Column::Status.eq(RechargeStatus::Pending.as_str()))
                .exec(tx)
                .await?;
            Ok(r.rows_affected == 1)
        }
        Effect::Guards(stmts) if stmts.len() == 1 => Ok(tx.execute(stmts[0].clone()).await?.rows_affected() == 1),
        Effect::Guards(stmts) => {
            // Several statements: a savepoint undoes the first ones when a later one misses.
            let sp = tx.begin().await?;
            for st in stmts {
                if sp.execute(st.clone()).await?.rows_affected() != 1 {
                    sp.rollback().await?;
                    return Ok(false);
                }
            }
            sp.commit().await?;
            Ok(true)
        }
    }
}

/// Applies `ops` in one transaction, in order.
async fn run_batch(db: &DatabaseConnection, ids: &IdGen, ops: &[&WalletOp]) -> Result<Vec<Outcome>, DbErr> {
    // Ids first: fetching a new id segment writes through another connection, which must not
    // wait on this transaction's locks (SQLite has one writer).
    let mut trade_ids = Vec::with_capacity(ops.len());
    let mut gift_ids = Vec::new();
    for op in ops {
        trade_ids.push(ids.next("trade").await.map_err(|e| DbErr::Custom(e.to_string()))?);
        if matches!(op.effect, Effect::GiftSend { .. }) {
            gift_ids.push(ids.next("gift_send").await.map_err(|e| DbErr::Custom(e.to_string()))?);
        }
    }
    let mut trade_ids = trade_ids.into_iter();
    let mut gift_ids = gift_ids.into_iter();
    let tx = db.begin().await?;
    if tx.get_database_backend() == DbBackend::Sqlite {
        // Take SQLite's write lock before reading: a read snapshot cannot be upgraded once
        // another connection wrote (SQLITE_BUSY_SNAPSHOT), while the lock itself is waited for.
        tx.execute_unprepared("UPDATE wallets SET balance = balance WHERE 1 = 0").await?;
    }
    // Writes applied before (retries) are answered with their first outcome.
    // One `kind = ? AND ref IN (...)` per kind, so the planner walks the (kind, ref) index
    // instead of evaluating hundreds of OR arms (which made Postgres scan the table).
    let mut by_kind: HashMap<&'static str, Vec<String>> = HashMap::new();
    for op in ops {
        by_kind.entry(op.kind.as_str()).or_default().push(op.r#ref.clone());
    }
    let mut cond = Condition::any();
    for (kind, refs) in by_kind {
        cond = cond.add(trades::Column::Kind.eq(kind).and(trades::Column::Ref.is_in(refs)));
    }
    let existing: HashMap<(String, String), trades::Model> = trades::Entity::find()
        .filter(cond)
        .all(&tx)
        .await?
        .into_iter()
        .map(|t| ((t.kind.clone(), t.r#ref.clone()), t))
        .collect();
    let mut seen: HashMap<(String, String), Outcome> = HashMap::new();
    let mut out = Vec::with_capacity(ops.len());
    let mut trade_rows = Vec::new();
    let mut gift_rows = Vec::new();
    let now = now_ms();
    for op in ops {
        let key = (op.kind.as_str().to_owned(), op.r#ref.clone());
        if let Some(t) = existing.get(&key) {
            out.push(Outcome::Duplicate { trade_id: t.id, balance: t.balance_after });
            continue;
        }
        if let Some(Outcome::Done { trade_id, balance }) = seen.get(&key) {
            out.push(Outcome::Duplicate { trade_id: *trade_id, balance: *balance });
            continue;
        }
        let Some(balance) = change_balance(&tx, op.user_id, op.delta, true).await? else {
            out.push(Outcome::Insufficient);
            continue;
        };
        if !guard(&tx, &op.effect).await? {
            change_balance(&tx, op.user_id, -op.delta, false).await?;
            out.push(Outcome::Refused);
            continue;
        }
        let trade_id = trade_ids.next().ok_or_else(|| DbErr::Custom("trade id missing".into()))?;
        trade_rows.push(trades::ActiveModel {
            id: Set(trade_id),
            user_id: Set(op.user_id),
            kind: Set(key.0.clone()),
            r#ref: Set(key.1.clone()),
            amount: Set(op.delta),
            balance_after: Set(balance),
            created_at: Set(now),
        });
        if let Effect::GiftSend { room_id, to_id, gift_id, count, pk_id } = &op.effect {
            gift_rows.push(gift_sends::ActiveModel {
                id: Set(gift_ids.next().ok_or_else(|| DbErr::Custom("gift id missing".into()))?),
                room_id: Set(*room_id),
                user_id: Set(op.user_id),
                to_id: Set(*to_id),
                gift_id: Set(*gift_id),
                count: Set(*count),
                coins: Set(-op.delta),
                pk_id: Set(*pk_id),
                created_at: Set(now),
            });
        }
        let o = Outcome::Done { trade_id, balance };
        seen.insert(key, o.clone());
        out.push(o);
    }
    for chunk in trade_rows.chunks(500) {
        trades::Entity::insert_many(chunk.to_vec()).exec(&tx).await?;
    }
    for chunk in gift_rows.chunks(500) {
        gift_sends::Entity::insert_many(chunk.to_vec()).exec(&tx).await?;
    }
    tx.commit().await?;
    Ok(out)
}
