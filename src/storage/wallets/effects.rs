//! What a batch's writes carry besides balances, read, locked and written in the batch's
//! transaction: red-packet claims, the running PKs gifts count in (and their tallies), the rooms
//! gifts go to, recharges marked paid, and guard statements.

use super::sql::{lock_by_primary_key, padded, push_list, update_by_primary_key};
use super::{Effect, WalletOp};
use crate::domain::money::RechargeStatus;
use crate::domain::pk::{PkStatus, PkTally};
use crate::storage::entities::{pks, recharges, red_packets};
use sea_orm::{
    sea_query::Expr, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

/// The packets the batch claims that are still free, locked until the commit.
pub(super) async fn lock_packets(tx: &DatabaseTransaction, ops: &[&WalletOp]) -> Result<HashSet<i64>, DbErr> {
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
pub(super) async fn lock_pks(
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
        .map(|p| (p.id, (PkTally::from(&p), p.host_id)))
        .collect())
}

/// The live rooms among those the batch's gifts go to, share-locked until the commit (SQLite:
/// the batch holds the write lock).
pub(super) async fn share_live_rooms(tx: &DatabaseTransaction, ops: &[&WalletOp]) -> Result<HashSet<i64>, DbErr> {
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
pub(super) async fn write_tallies(tx: &DatabaseTransaction, tallied: &BTreeMap<i64, PkTally>) -> Result<(), DbErr> {
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

/// One `UPDATE` of every claimed packet; each must still be free (they are locked).
pub(super) async fn write_claims(tx: &DatabaseTransaction, claims: &BTreeMap<i64, i64>) -> Result<(), DbErr> {
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

pub(super) async fn mark_recharge_paid(tx: &DatabaseTransaction, recharge_id: i64) -> Result<bool, DbErr> {
    let r = recharges::Entity::update_many()
        .col_expr(recharges::Column::Status, Expr::value(RechargeStatus::Paid.as_str()))
        .filter(recharges::Column::Id.eq(recharge_id))
        .filter(recharges::Column::Status.eq(RechargeStatus::Pending.as_str()))
        .exec(tx)
        .await?;
    Ok(r.rows_affected == 1)
}

/// True when each statement changed exactly one row; otherwise nothing of them is kept.
pub(super) async fn guards(tx: &DatabaseTransaction, stmts: &[sea_orm::Statement]) -> Result<bool, DbErr> {
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
