//! One batch of wallet writes, committed set-based: a fixed handful of statements whatever the
//! batch's size, instead of a few round trips per write.
//!
//! In one transaction:
//! 1. SQLite: take the write lock before reading; Postgres: no whole-table scans.
//! 2. The batch's wallets, read and locked (`FOR UPDATE`, in user order, so two batches in
//!    flight, or on two nodes, wait for each other instead of deadlocking). From here to the
//!    commit nobody else can change those balances, so they can be worked out in memory.
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
//! 6. One update of every changed balance, one of every claimed packet, one per PK whose tally
//!    moved, one multi-row insert of trades and one of gift rows.
//!
//! Reads bind their values, with id lists padded to a power of two so that a few statement
//! shapes stay in each connection's prepared-statement cache. Writes carry their values inline
//! (integers, and refs the server made) and go unprepared: one round trip each, and no cache
//! filled with one-off shapes. The `CHECK (balance >= 0)` on `wallets` stays the last word.

use super::{Effect, Outcome, WalletOp};
use crate::clock::now_ms;
use crate::domain::money::RechargeStatus;
use crate::domain::pk::{PkStatus, PkTally, Side};
use crate::storage::entities::{gift_sends, pks, recharges, red_packets, trades, wallets};
use crate::storage::idgen::IdGen;
use sea_orm::{
    sea_query::{
        extension::mysql::{IndexHintScope, MySqlSelectStatementExt},
        Alias, Expr, LockType, MysqlQueryBuilder, PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder,
    },
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

/// Rows per multi-row insert.
const INSERT_CHUNK: usize = 500;

/// Applies `ops` in one transaction, in order; one outcome per write.
pub(super) async fn run(db: &DatabaseConnection, ids: &IdGen, ops: &[&WalletOp]) -> Result<Vec<Outcome>, DbErr> {
    // Ids first: fetching a new id segment writes through another connection, which must not
    // wait on this transaction's locks (SQLite has one writer).
    let (trade_ids, gift_ids) = take_ids(ids, ops).await?;
    let mut trade_ids = trade_ids.into_iter();
    let mut gift_ids = gift_ids.into_iter();
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
    let mut balances = lock_wallets(&tx, ops).await?;
    let mut claimable = lock_packets(&tx, ops).await?;
    let now = now_ms();
    let mut counting = lock_pks(&tx, ops, now).await?;
    let live_rooms = share_live_rooms(&tx, ops).await?;
    // After the locks: a batch that waited for an earlier one's locks sees its trades.
    let existing = applied_before(&tx, ops).await?;

    let mut seen: HashMap<(&'static str, &str), (i64, i64)> = HashMap::new();
    let mut changed: BTreeMap<i64, i64> = BTreeMap::new();
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
        });
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

    write_balances(&tx, &changed, now).await?;
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
    tx.commit().await?;
    Ok(out)
}

/// A trade id for every write, and a gift-row id for every gift (unused ones are skipped ids).
async fn take_ids(ids: &IdGen, ops: &[&WalletOp]) -> Result<(Vec<i64>, Vec<i64>), DbErr> {
    let mut trade_ids = Vec::with_capacity(ops.len());
    let mut gift_ids = Vec::new();
    for op in ops {
        trade_ids.push(ids.next("trade").await.map_err(|e| DbErr::Custom(e.to_string()))?);
        if matches!(op.effect, Effect::GiftSend { .. }) {
            gift_ids.push(ids.next("gift_send").await.map_err(|e| DbErr::Custom(e.to_string()))?);
        }
    }
    Ok((trade_ids, gift_ids))
}

/// `v` sorted and deduplicated, then padded to a power of two with its last value.
fn padded<T: Ord + Clone>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    if let Some(last) = v.last().cloned() {
        v.resize(v.len().next_power_of_two(), last);
    }
    v
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

/// The balances of the batch's users, locked until the commit. A user without a wallet is
/// missing from the map (every write of theirs is `Insufficient`).
async fn lock_wallets(tx: &DatabaseTransaction, ops: &[&WalletOp]) -> Result<HashMap<i64, i64>, DbErr> {
    let users = padded(ops.iter().map(|o| o.user_id).collect());
    let mut q = wallets::Entity::find()
        .select_only()
        .column(wallets::Column::UserId)
        .column(wallets::Column::Balance)
        .filter(wallets::Column::UserId.is_in(users))
        .order_by_asc(wallets::Column::UserId);
    lock_by_primary_key(tx, &mut q);
    Ok(q.into_tuple::<(i64, i64)>().all(tx).await?.into_iter().collect())
}

/// The packets the batch claims that are still free, locked until the commit.
async fn lock_packets(tx: &DatabaseTransaction, ops: &[&WalletOp]) -> Result<HashSet<i64>, DbErr> {
    let wanted: Vec<i64> = ops
        .iter()
        .filter_map(|o| match o.effect {
            Effect::ClaimPacket { packet_id } => Some(packet_id),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    let mut q = red_packets::Entity::find()
        .select_only()
        .column(red_packets::Column::Id)
        .filter(red_packets::Column::Id.is_in(padded(wanted)))
        .filter(red_packets::Column::UserId.is_null())
        .filter(red_packets::Column::Refunded.eq(false))
        .order_by_asc(red_packets::Column::Id);
    lock_by_primary_key(tx, &mut q);
    Ok(q.into_tuple::<i64>().all(tx).await?.into_iter().collect())
}

/// The running PKs the batch's gifts may count in (started, not past their end), each with its
/// host, locked until the commit.
async fn lock_pks(
    tx: &DatabaseTransaction,
    ops: &[&WalletOp],
    now: i64,
) -> Result<HashMap<i64, (PkTally, i64)>, DbErr> {
    let wanted: Vec<i64> = ops
        .iter()
        .filter_map(|o| match o.effect {
            Effect::GiftSend { pk_id, .. } => pk_id,
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = pks::Entity::find()
        .filter(pks::Column::Id.is_in(padded(wanted)))
        .filter(pks::Column::Status.eq(PkStatus::Running.as_str()))
        .order_by_asc(pks::Column::Id);
    lock_by_primary_key(tx, &mut q);
    Ok(q.all(tx)
        .await?
        .into_iter()
        .filter(|p| p.ends_at.is_some_and(|end| now < end))
        .map(|p| {
            let tally = PkTally {
                pk_id: p.id,
                room_id: p.room_id,
                gifts: p.gifts,
                score: p.score,
                host_coins: p.host_coins,
                challenger_coins: p.challenger_coins,
                coins_per_point: p.coins_per_point,
            };
            (p.id, (tally, p.host_id))
        })
        .collect())
}

/// The live rooms among those the batch's gifts go to, share-locked until the commit (SQLite:
/// the batch holds the write lock).
async fn share_live_rooms(tx: &DatabaseTransaction, ops: &[&WalletOp]) -> Result<HashSet<i64>, DbErr> {
    let wanted: BTreeSet<i64> = ops
        .iter()
        .filter_map(|o| match o.effect {
            Effect::GiftSend { room_id, .. } => Some(room_id),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    let backend = tx.get_database_backend();
    let mut sql = String::from("SELECT id FROM rooms WHERE id IN (");
    push_list(&mut sql, wanted.iter());
    let _ = write!(sql, ") AND status = '{}'", crate::domain::room::LIVE);
    sql.push_str(match backend {
        DbBackend::Postgres => " FOR SHARE",
        DbBackend::MySql => " LOCK IN SHARE MODE",
        DbBackend::Sqlite => "",
    });
    let rows = tx.query_all(sea_orm::Statement::from_string(backend, sql)).await?;
    rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect()
}

/// One `UPDATE` per PK whose tally moved (a batch rarely counts in more than one).
async fn write_tallies(tx: &DatabaseTransaction, tallied: &BTreeMap<i64, PkTally>) -> Result<(), DbErr> {
    for t in tallied.values() {
        let mut sql = update_by_primary_key(tx.get_database_backend(), "pks");
        let _ = write!(
            sql,
            "score = {}, host_coins = {}, challenger_coins = {}, gifts = {} WHERE id = {}",
            t.score, t.host_coins, t.challenger_coins, t.gifts, t.pk_id
        );
        tx.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// `FOR UPDATE`, going by the primary key. SQLite has no row locks: the batch holds its write
/// lock. MySQL is told to use the primary key: with more than 200 values in an `IN` list it
/// estimates rather than looks, and on a small table chose a full scan, which locks every row.
fn lock_by_primary_key<E: EntityTrait>(tx: &DatabaseTransaction, q: &mut sea_orm::Select<E>) {
    match tx.get_database_backend() {
        DbBackend::Sqlite => {}
        DbBackend::Postgres => {
            QuerySelect::query(q).lock(LockType::Update);
        }
        DbBackend::MySql => {
            QuerySelect::query(q).lock(LockType::Update).force_index(Alias::new("PRIMARY"), IndexHintScope::All);
        }
    }
}

/// `UPDATE table`, with MySQL told to go by the primary key (see `lock_by_primary_key`).
fn update_by_primary_key(backend: DbBackend, table: &str) -> String {
    match backend {
        DbBackend::MySql => format!("UPDATE {table} FORCE INDEX (PRIMARY) SET "),
        _ => format!("UPDATE {table} SET "),
    }
}

/// One `UPDATE` of every changed balance to its final value (the rows are locked).
async fn write_balances(tx: &DatabaseTransaction, changed: &BTreeMap<i64, i64>, now: i64) -> Result<(), DbErr> {
    if changed.is_empty() {
        return Ok(());
    }
    let mut sql = update_by_primary_key(tx.get_database_backend(), "wallets");
    sql.push_str("balance = CASE user_id");
    for (user, balance) in changed {
        let _ = write!(sql, " WHEN {user} THEN {balance}");
    }
    let _ = write!(sql, " END, updated_at = {now} WHERE user_id IN (");
    push_list(&mut sql, changed.keys());
    sql.push(')');
    tx.execute_unprepared(&sql).await?;
    Ok(())
}

/// One `UPDATE` of every claimed packet; each must still be free (they are locked).
async fn write_claims(tx: &DatabaseTransaction, claims: &BTreeMap<i64, i64>) -> Result<(), DbErr> {
    if claims.is_empty() {
        return Ok(());
    }
    let mut sql = update_by_primary_key(tx.get_database_backend(), "red_packets");
    sql.push_str("user_id = CASE id");
    for (packet, user) in claims {
        let _ = write!(sql, " WHEN {packet} THEN {user}");
    }
    sql.push_str(" END WHERE user_id IS NULL AND id IN (");
    push_list(&mut sql, claims.keys());
    sql.push(')');
    let done = tx.execute_unprepared(&sql).await?.rows_affected();
    if done != claims.len() as u64 {
        // Cannot happen while the rows are locked; failing the batch re-runs it write by write.
        return Err(DbErr::Custom(format!("claimed {done} of {} locked packets", claims.len())));
    }
    Ok(())
}

fn push_list<'a>(sql: &mut String, ids: impl Iterator<Item = &'a i64>) {
    for (i, id) in ids.enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "{id}");
    }
}

/// The statement with its values inline, in the backend's dialect.
fn inline<S: QueryStatementWriter>(backend: DbBackend, s: &S) -> String {
    match backend {
        DbBackend::MySql => s.to_string(MysqlQueryBuilder),
        DbBackend::Postgres => s.to_string(PostgresQueryBuilder),
        DbBackend::Sqlite => s.to_string(SqliteQueryBuilder),
    }
}

async fn mark_recharge_paid(tx: &DatabaseTransaction, recharge_id: i64) -> Result<bool, DbErr> {
    let r = recharges::Entity::update_many()
        .col_expr(recharges::Column::Status, Expr::value(RechargeStatus::Paid.as_str()))
        .filter(recharges::Column::Id.eq(recharge_id))
        .filter(recharges::Column::Status.eq(RechargeStatus::Pending.as_str()))
        .exec(tx)
        .await?;
    Ok(r.rows_affected == 1)
}

/// True when each statement changed exactly one row; otherwise nothing of them is kept.
async fn guards(tx: &DatabaseTransaction, stmts: &[sea_orm::Statement]) -> Result<bool, DbErr> {
    if let [one] = stmts {
        return Ok(tx.execute(one.clone()).await?.rows_affected() == 1);
    }
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

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn id_lists_are_deduplicated_and_padded_to_a_power_of_two() {
        assert_eq!(padded(vec![3, 1, 3, 2]), vec![1, 2, 3, 3]);
        assert_eq!(padded(vec![5]), vec![5]);
        assert_eq!(padded(Vec::<i64>::new()), Vec::<i64>::new());
        assert_eq!(padded((1..=5).collect::<Vec<i64>>()).len(), 8);
    }
}
