//! One batch of wallet writes, committed set-based: a fixed handful of statements whatever the
//! batch's size, instead of a few round trips per write.
//!
//! In one transaction:
//! 1. SQLite: take the write lock before reading; Postgres: no whole-table scans.
//! 2. The batch's wallets, and those of the anchors its writes pay, read and locked (`FOR
//!    UPDATE`, in user order, so two batches in flight, or on two nodes, wait for each other
//!    instead of deadlocking). From here to the commit nobody else can change those balances
//!    and incomes, so they can be worked out in memory.
//! 3. The red packets the batch claims, and the running PKs its gifts count in, read and locked
//!    the same way. A PK's row holds its tally, so the gifts of one PK are counted one batch at
//!    a time, in commit order, whatever node sent them. The rooms its gifts go to, read with a
//!    shared lock: a gift commits only while its room is live, and a close (which updates the
//!    row) waits for the batches in flight, so no gift commits after its room's close did,
//!    whatever node took the gift or the close.
//! 4. Writes applied before (retries): one select on the `(ref, kind)` index. It comes after
//!    the locks so that it sees what a batch that held them committed.
//! 5. In memory, in batch order: each write against its user's running balance (a debit that
//!    the balance does not cover is `Insufficient`), its duplicate check and its guard. A
//!    write that fails its condition is answered on its own and changes nothing.
//! 6. One update of every changed balance and income, one of every claimed packet, one per PK
//!    whose tally moved, one multi-row insert each of trades, gift rows and earnings.
//!
//! Reads bind their values, with id lists padded to a power of two so that a few statement
//! shapes stay in each connection's prepared-statement cache. Writes carry their values inline
//! (integers, and refs the server made) and go unprepared: one round trip each, and no cache
//! filled with one-off shapes. The `CHECK (balance >= 0)` on `wallets` stays the last word.

use super::effects::{
    guards, lock_packets, lock_pks, mark_recharge_paid, share_live_rooms, write_claims, write_tallies,
};
use super::sql::{inline, lock_by_primary_key, padded, push_list, update_by_primary_key};
use super::{Earning, Effect, Outcome, WalletOp};
use crate::clock::now_ms;
use crate::domain::pk::{PkTally, Side};
use crate::storage::entities::{earnings, gift_sends, trades, wallets};
use crate::storage::idgen::IdGen;
use sea_orm::{
    sea_query::{
        extension::mysql::{IndexHintScope, MySqlSelectStatementExt},
        Alias,
    },
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// Rows per multi-row insert.
const INSERT_CHUNK: usize = 500;

/// Applies `ops` in one transaction, in order; one outcome per write.
pub(super) async fn run(db: &DatabaseConnection, ids: &IdGen, ops: &[&WalletOp]) -> Result<Vec<Outcome>, DbErr> {
    // Ids first: fetching a new id segment writes through another connection, which must not
    // wait on this transaction's locks (SQLite has one writer).
    let Ids { trades: trade_ids, gifts: gift_ids, earnings: earning_ids } = take_ids(ids, ops).await?;
    let mut trade_ids = trade_ids.into_iter();
    let mut gift_ids = gift_ids.into_iter();
    let mut earning_ids = earning_ids.into_iter();
    let backend = db.get_database_backend();
    // MySQL's default REPEATABLE READ takes gap locks and, where a statement scans, locks rows it
    // does not change: two batches in flight deadlocked. READ COMMITTED locks what it changes,
    // as Postgres does by default.
    let isolation = (backend == DbBackend::MySql).then_some(IsolationLevel::ReadCommitted);
    let tx = db.begin_with_config(isolation, None).await?;
    match backend {
        // Take SQLite's write lock before reading: a read snapshot cannot be upgraded once
        // another connection wrote (SQLITE_BUSY_SNAPSHOT), while the lock itself is waited for.
        // Holding it also makes the reads below as good as locked.
        DbBackend::Sqlite => {
            tx.execute_unprepared("UPDATE wallets SET balance = balance WHERE 1 = 0").await?;
        }
        // Every statement of a batch goes by a key. With 256 values in an `IN` list, Postgres
        // took a whole-table scan of trades for cheaper whenever its statistics lagged behind
        // the table (a young or fast-growing table: 256 × the default selectivity rounds to every
        // row); the batch tells it not to (one round trip for the setting).
        DbBackend::Postgres => {
            tx.execute_unprepared("SET LOCAL enable_seqscan = off").await?;
        }
        DbBackend::MySql => {}
    }
    let (mut balances, mut incomes) = lock_wallets(&tx, ops).await?;
    let mut claimable = lock_packets(&tx, ops).await?;
    let now = now_ms();
    let mut counting = lock_pks(&tx, ops, now).await?;
    let live_rooms = share_live_rooms(&tx, ops).await?;
    // After the locks: a batch that waited for an earlier one's locks sees its trades.
    let existing = applied_before(&tx, ops).await?;

    let mut seen: HashMap<(&'static str, &str), (i64, i64)> = HashMap::new();
    let mut changed: BTreeMap<i64, i64> = BTreeMap::new();
    let mut incomes_changed: BTreeMap<i64, i64> = BTreeMap::new();
    let mut earning_rows = Vec::new();
    let mut claims: BTreeMap<i64, i64> = BTreeMap::new();
    let mut tallied: BTreeMap<i64, PkTally> = BTreeMap::new();
    let mut trade_rows = Vec::with_capacity(ops.len());
    let mut gift_rows = Vec::new();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let key = (op.kind.as_str(), op.r#ref.as_str());
        if let Some(&(trade_id, balance)) = existing.get(&key).or_else(|| seen.get(&key)) {
            out.push(Outcome::Duplicate { trade_id, balance });
            continue;
        }
        let Some(after) = balances.get(&op.user_id).and_then(|b| b.checked_add(op.delta)) else {
            out.push(Outcome::Insufficient);
            continue;
        };
        if op.delta < 0 && after < 0 {
            out.push(Outcome::Insufficient);
            continue;
        }
        // What the write pays an anchor: checked before the effect, which may run statements.
        let earned = match &op.earning {
            None => None,
            Some(e) => match earning_of(op, e, &incomes) {
                Some(x) => Some(x),
                None => {
                    out.push(Outcome::Refused);
                    continue;
                }
            },
        };
        let allowed = match &op.effect {
            Effect::None => true,
            Effect::GiftSend { room_id, .. } => live_rooms.contains(room_id),
            Effect::ClaimPacket { packet_id } => {
                let free = claimable.remove(packet_id);
                if free {
                    claims.insert(*packet_id, op.user_id);
                }
                free
            }
            Effect::MarkRechargePaid { recharge_id } => mark_recharge_paid(&tx, *recharge_id).await?,
            Effect::Guards(stmts) => guards(&tx, stmts).await?,
        };
        if !allowed {
            out.push(Outcome::Refused);
            continue;
        }
        balances.insert(op.user_id, after);
        changed.insert(op.user_id, after);
        let trade_id = trade_ids.next().ok_or_else(|| DbErr::Custom("trade id missing".into()))?;
        trade_rows.push(trades::ActiveModel {
            id: Set(trade_id),
            user_id: Set(op.user_id),
            kind: Set(key.0.to_owned()),
            r#ref: Set(key.1.to_owned()),
            amount: Set(op.delta),
            balance_after: Set(after),
            created_at: Set(now),
            note: Set(op.note.clone()),
        });
        if let (Some(e), Some((amount, income_after))) = (&op.earning, earned) {
            incomes.insert(e.anchor_id, income_after);
            incomes_changed.insert(e.anchor_id, income_after);
            earning_rows.push(earnings::ActiveModel {
                id: Set(earning_ids.next().ok_or_else(|| DbErr::Custom("earning id missing".into()))?),
                user_id: Set(e.anchor_id),
                trade_id: Set(trade_id),
                kind: Set(e.kind.as_str().to_owned()),
                from_id: Set(op.user_id),
                room_id: Set(e.room_id),
                title: Set(e.title.clone()),
                coins: Set(-op.delta),
                fee: Set(e.fee),
                amount: Set(amount),
                income_after: Set(income_after),
                created_at: Set(now),
            });
        }
        let mut pk = None;
        if let Effect::GiftSend { room_id, to_id, gift_id, count, pk_id } = &op.effect {
            // Counted in its PK while the PK runs and is not decided; the gift goes through
            // either way.
            let counted = pk_id.and_then(|id| counting.get_mut(&id)).and_then(|(tally, host_id)| {
                let side = if *to_id == *host_id { Side::Host } else { Side::Challenger };
                tally.count(side, -op.delta).then_some(*tally)
            });
            if let Some(t) = counted {
                tallied.insert(t.pk_id, t);
                pk = Some(t);
            }
            gift_rows.push(gift_sends::ActiveModel {
                id: Set(gift_ids.next().ok_or_else(|| DbErr::Custom("gift id missing".into()))?),
                room_id: Set(*room_id),
                user_id: Set(op.user_id),
                to_id: Set(*to_id),
                gift_id: Set(*gift_id),
                count: Set(*count),
                coins: Set(-op.delta),
                pk_id: Set(counted.map(|t| t.pk_id)),
                pk_seq: Set(counted.map(|t| t.gifts)),
                created_at: Set(now),
            });
        }
        seen.insert(key, (trade_id, after));
        out.push(Outcome::Done { trade_id, balance: after, pk });
    }

    write_balances(&tx, &changed, &incomes_changed, now).await?;
    write_claims(&tx, &claims).await?;
    write_tallies(&tx, &tallied).await?;
    for chunk in trade_rows.chunks(INSERT_CHUNK) {
        let q = trades::Entity::insert_many(chunk.to_vec()).into_query();
        tx.execute_unprepared(&inline(backend, &q)).await?;
    }
    for chunk in gift_rows.chunks(INSERT_CHUNK) {
        let q = gift_sends::Entity::insert_many(chunk.to_vec()).into_query();
        tx.execute_unprepared(&inline(backend, &q)).await?;
    }
    for chunk in earning_rows.chunks(INSERT_CHUNK) {
        let q = earnings::Entity::insert_many(chunk.to_vec()).into_query();
        tx.execute_unprepared(&inline(backend, &q)).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// The anchor's part of what `op` pays and their income after it; None when the earning
/// does not add up (a fee outside the debit) or the anchor has no wallet.
fn earning_of(op: &WalletOp, e: &Earning, incomes: &HashMap<i64, i64>) -> Option<(i64, i64)> {
    let coins = op.delta.checked_neg()?;
    let amount = coins.checked_sub(e.fee)?;
    if e.fee < 0 || amount < 0 {
        return None;
    }
    Some((amount, incomes.get(&e.anchor_id)?.checked_add(amount)?))
}

/// Ids taken before the transaction: unused ones are skipped ids.
struct Ids {
    trades: Vec<i64>,
    gifts: Vec<i64>,
    earnings: Vec<i64>,
}

/// A trade id for every write, a gift-row id for every gift, an earning id for every write
/// that pays an anchor.
async fn take_ids(ids: &IdGen, ops: &[&WalletOp]) -> Result<Ids, DbErr> {
    let next = |biz: &'static str| async move { ids.next(biz).await.map_err(|e| DbErr::Custom(e.to_string())) };
    let mut out = Ids { trades: Vec::with_capacity(ops.len()), gifts: Vec::new(), earnings: Vec::new() };
    for op in ops {
        out.trades.push(next("trade").await?);
        if matches!(op.effect, Effect::GiftSend { .. }) {
            out.gifts.push(next("gift_send").await?);
        }
        if op.earning.is_some() {
            out.earnings.push(next("earning").await?);
        }
    }
    Ok(out)
}

/// The writes of the batch that were applied before: `(kind, ref)` → `(trade id, balance)`.
/// One `ref IN (...)` on the unique `(ref, kind)` index; a trade of another kind with the same
/// ref is left out here.
async fn applied_before<'a>(
    tx: &DatabaseTransaction,
    ops: &[&'a WalletOp],
) -> Result<HashMap<(&'static str, &'a str), (i64, i64)>, DbErr> {
    let wanted: HashMap<(&str, &str), (&'static str, &'a str)> =
        ops.iter().map(|o| ((o.kind.as_str(), o.r#ref.as_str()), (o.kind.as_str(), o.r#ref.as_str()))).collect();
    let refs = padded(ops.iter().map(|o| o.r#ref.as_str()).collect());
    let mut q = trades::Entity::find().filter(trades::Column::Ref.is_in(refs));
    if tx.get_database_backend() == DbBackend::MySql {
        // As in `lock_by_primary_key`: past 200 values MySQL estimates from statistics, and
        // with them behind a growing table it chose to scan all of it (0.1 s and more a batch).
        QuerySelect::query(&mut q).force_index(Alias::new("ux_trades_ref_kind"), IndexHintScope::All);
    }
    let rows = q.all(tx).await?;
    Ok(rows
        .into_iter()
        .filter_map(|t| wanted.get(&(t.kind.as_str(), t.r#ref.as_str())).map(|key| (*key, (t.id, t.balance_after))))
        .collect())
}

type ByUser = HashMap<i64, i64>;

/// The balances of the batch's users and the incomes of the anchors it pays, locked until the
/// commit (in user order, one statement). A user without a wallet is missing from the maps
/// (every write of theirs is `Insufficient`; one that pays them is `Refused`).
async fn lock_wallets(tx: &DatabaseTransaction, ops: &[&WalletOp]) -> Result<(ByUser, ByUser), DbErr> {
    let payers = ops.iter().map(|o| o.user_id);
    let payees = ops.iter().filter_map(|o| o.earning.as_ref().map(|e| e.anchor_id));
    let users = padded(payers.chain(payees).collect());
    let mut q = wallets::Entity::find()
        .select_only()
        .column(wallets::Column::UserId)
        .column(wallets::Column::Balance)
        .column(wallets::Column::Income)
        .filter(wallets::Column::UserId.is_in(users))
        .order_by_asc(wallets::Column::UserId);
    lock_by_primary_key(tx, &mut q);
    let rows = q.into_tuple::<(i64, i64, i64)>().all(tx).await?;
    let balances = rows.iter().map(|&(u, b, _)| (u, b)).collect();
    let incomes = rows.iter().map(|&(u, _, i)| (u, i)).collect();
    Ok((balances, incomes))
}

/// One `UPDATE` of every changed balance and income to its final value (the rows are locked).
async fn write_balances(
    tx: &DatabaseTransaction,
    balances: &BTreeMap<i64, i64>,
    incomes: &BTreeMap<i64, i64>,
    now: i64,
) -> Result<(), DbErr> {
    let users: BTreeSet<i64> = balances.keys().chain(incomes.keys()).copied().collect();
    if users.is_empty() {
        return Ok(());
    }
    let mut sql = update_by_primary_key(tx.get_database_backend(), "wallets");
    for (column, values) in [("balance", balances), ("income", incomes)] {
        if values.is_empty() {
            continue;
        }
        let _ = write!(sql, "{column} = CASE user_id");
        for (user, v) in values {
            let _ = write!(sql, " WHEN {user} THEN {v}");
        }
        let _ = write!(sql, " ELSE {column} END, ");
    }
    let _ = write!(sql, "updated_at = {now} WHERE user_id IN (");
    push_list(&mut sql, users.iter());
    sql.push(')');
    tx.execute_unprepared(&sql).await?;
    Ok(())
}
