//! Red-packet applications, rains and their packets.

use super::entities::{rains, red_packet_applications as apps, red_packets};
use crate::clock::now_ms;
use crate::domain::redpacket::{ApplicationStatus, RainStatus};
use sea_orm::{
    sea_query::{Expr, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};

pub async fn apply(
    db: &DatabaseConnection,
    id: i64,
    anchor_id: i64,
    total: i64,
    packets: i64,
) -> Result<apps::Model, DbErr> {
    let m = apps::Model {
        id,
        anchor_id,
        total_coins: total,
        packets,
        status: ApplicationStatus::Pending.as_str().into(),
        created_at: now_ms(),
    };
    apps::Entity::insert(apps::ActiveModel {
        id: Set(m.id),
        anchor_id: Set(m.anchor_id),
        total_coins: Set(m.total_coins),
        packets: Set(m.packets),
        status: Set(m.status.clone()),
        created_at: Set(m.created_at),
    })
    .exec(db)
    .await?;
    Ok(m)
}

/// Applications, newest first: all of them, or one anchor's; of one status, or any.
pub async fn applications(
    db: &DatabaseConnection,
    anchor_id: Option<i64>,
    status: Option<ApplicationStatus>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<apps::Model>, u64), DbErr> {
    let mut q = apps::Entity::find();
    if let Some(a) = anchor_id {
        q = q.filter(apps::Column::AnchorId.eq(a));
    }
    if let Some(s) = status {
        q = q.filter(apps::Column::Status.eq(s.as_str()));
    }
    let total = q.clone().count(db).await?;
    let items = q.order_by_desc(apps::Column::Id).offset(offset).limit(limit).all(db).await?;
    Ok((items, total))
}

pub async fn application(db: &DatabaseConnection, id: i64) -> Result<Option<apps::Model>, DbErr> {
    apps::Entity::find_by_id(id).one(db).await
}

/// Moves a pending application to `to`; false when it was not pending.
pub async fn decide(db: &DatabaseConnection, id: i64, to: ApplicationStatus) -> Result<bool, DbErr> {
    let r = apps::Entity::update_many()
        .col_expr(apps::Column::Status, Expr::value(to.as_str()))
        .filter(apps::Column::Id.eq(id))
        .filter(apps::Column::Status.eq(ApplicationStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The anchor's oldest approved, unused application.
pub async fn usable_application(db: &DatabaseConnection, anchor_id: i64) -> Result<Option<apps::Model>, DbErr> {
    apps::Entity::find()
        .filter(apps::Column::AnchorId.eq(anchor_id))
        .filter(apps::Column::Status.eq(ApplicationStatus::Approved.as_str()))
        .order_by_asc(apps::Column::Id)
        .one(db)
        .await
}

/// The room's rain that is prepared or running, if any.
pub async fn active_in_room(db: &DatabaseConnection, room_id: i64) -> Result<Option<rains::Model>, DbErr> {
    rains::Entity::find()
        .filter(rains::Column::RoomId.eq(room_id))
        .filter(rains::Column::Status.is_in(RainStatus::ACTIVE.map(RainStatus::as_str)))
        .order_by_desc(rains::Column::Id)
        .one(db)
        .await
}

/// Every rain of the room that is preparing, prepared or running, oldest first.
pub async fn active_all_in_room(db: &DatabaseConnection, room_id: i64) -> Result<Vec<rains::Model>, DbErr> {
    rains::Entity::find()
        .filter(rains::Column::RoomId.eq(room_id))
        .filter(rains::Column::Status.is_in(RainStatus::ACTIVE.map(RainStatus::as_str)))
        .order_by_asc(rains::Column::Id)
        .all(db)
        .await
}

/// Every rain that is preparing, prepared or running (the sweeps go through these).
pub async fn active(db: &DatabaseConnection) -> Result<Vec<rains::Model>, DbErr> {
    rains::Entity::find()
        .filter(rains::Column::Status.is_in(RainStatus::ACTIVE.map(RainStatus::as_str)))
        .order_by_asc(rains::Column::Id)
        .all(db)
        .await
}

/// Marks a preparing rain failed; false when it was not preparing (its debit committed, so it
/// is prepared, or it is gone). Once failed, its debit can no longer commit: the debit's
/// guard needs the rain preparing. Its packets are removed.
pub async fn fail_preparing(db: &DatabaseConnection, rain_id: i64) -> Result<bool, DbErr> {
    let r = rains::Entity::update_many()
        .col_expr(rains::Column::Status, Expr::value(RainStatus::Failed.as_str()))
        .filter(rains::Column::Id.eq(rain_id))
        .filter(rains::Column::Status.eq(RainStatus::Preparing.as_str()))
        .exec(db)
        .await?;
    if r.rows_affected == 1 {
        red_packets::Entity::delete_many().filter(red_packets::Column::RainId.eq(rain_id)).exec(db).await?;
    }
    Ok(r.rows_affected == 1)
}

/// Marks a preparing rain prepared (its debit is found committed); false when not preparing.
pub async fn mark_prepared(db: &DatabaseConnection, rain_id: i64) -> Result<bool, DbErr> {
    let r = rains::Entity::update_many()
        .col_expr(rains::Column::Status, Expr::value(RainStatus::Prepared.as_str()))
        .filter(rains::Column::Id.eq(rain_id))
        .filter(rains::Column::Status.eq(RainStatus::Preparing.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn latest_in_room(db: &DatabaseConnection, room_id: i64) -> Result<Option<rains::Model>, DbErr> {
    rains::Entity::find().filter(rains::Column::RoomId.eq(room_id)).order_by_desc(rains::Column::Id).one(db).await
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<rains::Model>, DbErr> {
    rains::Entity::find_by_id(id).one(db).await
}

/// Stores a rain in status `preparing` with its drawn packets (ids `first_packet_id..`).
pub async fn insert_preparing(
    db: &DatabaseConnection,
    rain: &rains::Model,
    amounts: &[i64],
    first_packet_id: i64,
) -> Result<(), DbErr> {
    let rain = rain.clone();
    let amounts = amounts.to_vec();
    db.transaction::<_, (), DbErr>(|tx| {
        Box::pin(async move {
            rains::Entity::insert(rains::ActiveModel {
                id: Set(rain.id),
                room_id: Set(rain.room_id),
                anchor_id: Set(rain.anchor_id),
                application_id: Set(rain.application_id),
                status: Set(RainStatus::Preparing.as_str().into()),
                total_coins: Set(rain.total_coins),
                packets: Set(rain.packets),
                ends_at: Set(None),
                refunded: Set(None),
                created_at: Set(rain.created_at),
            })
            .exec(tx)
            .await?;
            for (chunk_no, chunk) in amounts.chunks(1000).enumerate() {
                let rows = chunk.iter().enumerate().map(|(i, a)| red_packets::ActiveModel {
                    id: Set(first_packet_id + (chunk_no * 1000 + i) as i64),
                    rain_id: Set(rain.id),
                    amount: Set(*a),
                    user_id: Set(None),
                    refunded: Set(false),
                });
                red_packets::Entity::insert_many(rows).exec(tx).await?;
            }
            Ok(())
        })
    })
    .await
    .map_err(super::tx_err)
}

/// The guards that make a prepare's debit count: the application becomes used and the rain
/// prepared, or neither.
pub fn prepare_guards(db: &DatabaseConnection, rain_id: i64, application_id: i64) -> Vec<Statement> {
    let b = db.get_database_backend();
    let mut a = Query::update();
    a.table(apps::Entity)
        .value(apps::Column::Status, ApplicationStatus::Used.as_str())
        .and_where(apps::Column::Id.eq(application_id))
        .and_where(apps::Column::Status.eq(ApplicationStatus::Approved.as_str()));
    let mut r = Query::update();
    r.table(rains::Entity)
        .value(rains::Column::Status, RainStatus::Prepared.as_str())
        .and_where(rains::Column::Id.eq(rain_id))
        .and_where(rains::Column::Status.eq(RainStatus::Preparing.as_str()));
    vec![b.build(&a), b.build(&r)]
}

pub async fn delete_preparing(db: &DatabaseConnection, rain_id: i64) -> Result<(), DbErr> {
    red_packets::Entity::delete_many().filter(red_packets::Column::RainId.eq(rain_id)).exec(db).await?;
    rains::Entity::delete_many()
        .filter(rains::Column::Id.eq(rain_id))
        .filter(rains::Column::Status.eq(RainStatus::Preparing.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Starts a prepared rain; false when it was not prepared (someone else started it).
pub async fn start(db: &DatabaseConnection, rain_id: i64, ends_at: i64) -> Result<bool, DbErr> {
    let r = rains::Entity::update_many()
        .col_expr(rains::Column::Status, Expr::value(RainStatus::Running.as_str()))
        .col_expr(rains::Column::EndsAt, Expr::value(ends_at))
        .filter(rains::Column::Id.eq(rain_id))
        .filter(rains::Column::Status.eq(RainStatus::Prepared.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Packets not grabbed yet, `(id, amount)` in id order.
pub async fn unclaimed(db: &DatabaseConnection, rain_id: i64) -> Result<Vec<(i64, i64)>, DbErr> {
    let rows = red_packets::Entity::find()
        .filter(red_packets::Column::RainId.eq(rain_id))
        .filter(red_packets::Column::UserId.is_null())
        .filter(red_packets::Column::Refunded.eq(false))
        .order_by_asc(red_packets::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|p| (p.id, p.amount)).collect())
}

/// Closes a rain's packets: those not grabbed go back to the anchor. Returns (grabbed count,
/// grabbed coins, refunded coins). Idempotent.
pub async fn close_packets(db: &DatabaseConnection, rain_id: i64) -> Result<(i64, i64, i64), DbErr> {
    red_packets::Entity::update_many()
        .col_expr(red_packets::Column::Refunded, Expr::value(true))
        .filter(red_packets::Column::RainId.eq(rain_id))
        .filter(red_packets::Column::UserId.is_null())
        .exec(db)
        .await?;
    let all = red_packets::Entity::find().filter(red_packets::Column::RainId.eq(rain_id)).all(db).await?;
    let grabbed: Vec<_> = all.iter().filter(|p| p.user_id.is_some()).collect();
    let refunded: i64 = all.iter().filter(|p| p.user_id.is_none()).map(|p| p.amount).sum();
    Ok((grabbed.len() as i64, grabbed.iter().map(|p| p.amount).sum(), refunded))
}

pub async fn mark_ended(db: &DatabaseConnection, rain_id: i64, refunded: i64) -> Result<bool, DbErr> {
    let r = rains::Entity::update_many()
        .col_expr(rains::Column::Status, Expr::value(RainStatus::Ended.as_str()))
        .col_expr(rains::Column::Refunded, Expr::value(refunded))
        .filter(rains::Column::Id.eq(rain_id))
        .filter(rains::Column::Status.eq(RainStatus::Running.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn running(db: &DatabaseConnection) -> Result<Vec<rains::Model>, DbErr> {
    rains::Entity::find().filter(rains::Column::Status.eq(RainStatus::Running.as_str())).all(db).await
}

pub async fn has_usable(db: &DatabaseConnection, anchor_id: i64) -> Result<bool, DbErr> {
    Ok(usable_application(db, anchor_id).await?.is_some())
}
