//! Rooms repository: opening (one live room per anchor), closing, bans, slow mode, listing.

use super::entities::{live_anchors, room_bans, rooms};
use crate::clock::now_ms;
use crate::domain::room::{RoomKind, CLOSED, LIVE};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

/// Why a room could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the anchor already has a live room")]
    AlreadyLive,
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub async fn open(
    db: &DatabaseConnection,
    id: i64,
    anchor_id: i64,
    title: String,
    kind: RoomKind,
) -> Result<rooms::Model, OpenError> {
    let model = rooms::Model {
        id,
        anchor_id,
        title,
        kind: kind.as_str().to_owned(),
        status: LIVE.to_owned(),
        slow_mode_s: 0,
        started_at: now_ms(),
        closed_at: None,
    };
    let m = model.clone();
    let res = db
        .transaction::<_, (), DbErr>(|tx| {
            Box::pin(async move {
                live_anchors::Entity::insert(live_anchors::ActiveModel {
                    anchor_id: Set(m.anchor_id),
                    room_id: Set(m.id),
                })
                .exec(tx)
                .await?;
                rooms::Entity::insert(rooms::ActiveModel {
                    id: Set(m.id),
                    anchor_id: Set(m.anchor_id),
                    title: Set(m.title),
                    kind: Set(m.kind),
                    status: Set(m.status),
                    slow_mode_s: Set(0),
                    started_at: Set(m.started_at),
                    closed_at: Set(None),
                })
                .exec(tx)
                .await?;
                Ok(())
            })
        })
        .await;
    match res {
        Ok(()) => Ok(model),
        Err(e) => {
            if live_room_of(db, anchor_id).await?.is_some() {
                Err(OpenError::AlreadyLive)
            } else {
                Err(OpenError::Db(super::tx_err(e)))
            }
        }
    }
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<rooms::Model>, DbErr> {
    rooms::Entity::find_by_id(id).one(db).await
}

/// The anchor's live room, if any.
pub async fn live_room_of(db: &DatabaseConnection, anchor_id: i64) -> Result<Option<i64>, DbErr> {
    Ok(live_anchors::Entity::find_by_id(anchor_id).one(db).await?.map(|r| r.room_id))
}

/// Marks the room closed; true when this call closed it (it was live).
pub async fn close(db: &DatabaseConnection, room: &rooms::Model) -> Result<bool, DbErr> {
    let id = room.id;
    let anchor = room.anchor_id;
    db.transaction::<_, bool, DbErr>(|tx| {
        Box::pin(async move {
            let r = rooms::Entity::update_many()
                .col_expr(rooms::Column::Status, Expr::value(CLOSED))
                .col_expr(rooms::Column::ClosedAt, Expr::value(now_ms()))
                .filter(rooms::Column::Id.eq(id))
                .filter(rooms::Column::Status.eq(LIVE))
                .exec(tx)
                .await?;
            if r.rows_affected == 1 {
                live_anchors::Entity::delete_many()
                    .filter(live_anchors::Column::AnchorId.eq(anchor))
                    .filter(live_anchors::Column::RoomId.eq(id))
                    .exec(tx)
                    .await?;
            }
            Ok(r.rows_affected == 1)
        })
    })
    .await
    .map_err(super::tx_err)
}

/// Every live room, newest first (the list snapshot is built from this).
pub async fn live(db: &DatabaseConnection) -> Result<Vec<rooms::Model>, DbErr> {
    rooms::Entity::find()
        .filter(rooms::Column::Status.eq(LIVE))
        .order_by_desc(rooms::Column::StartedAt)
        .order_by_desc(rooms::Column::Id)
        .all(db)
        .await
}

pub async fn set_slow_mode(db: &DatabaseConnection, id: i64, seconds: i64) -> Result<(), DbErr> {
    rooms::Entity::update_many()
        .col_expr(rooms::Column::SlowModeS, Expr::value(seconds as i32))
        .filter(rooms::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn ban(db: &DatabaseConnection, room_id: i64, user_id: i64) -> Result<(), DbErr> {
    let r = room_bans::Entity::insert(room_bans::ActiveModel {
        room_id: Set(room_id),
        user_id: Set(user_id),
        created_at: Set(now_ms()),
    })
    .exec(db)
    .await;
    match r {
        Ok(_) => Ok(()),
        // Already banned.
        Err(_) if is_banned(db, room_id, user_id).await? => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn unban(db: &DatabaseConnection, room_id: i64, user_id: i64) -> Result<(), DbErr> {
    room_bans::Entity::delete_by_id((room_id, user_id)).exec(db).await.map(|_| ())
}

/// The users banned from a room, newest ban first: `(user, since)`, a page, and the total.
pub async fn bans(
    db: &DatabaseConnection,
    room_id: i64,
    offset: u64,
    limit: u64,
) -> Result<(Vec<(i64, i64)>, u64), DbErr> {
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let q = room_bans::Entity::find().filter(room_bans::Column::RoomId.eq(room_id));
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(room_bans::Column::CreatedAt)
        .order_by_desc(room_bans::Column::UserId)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows.into_iter().map(|b| (b.user_id, b.created_at)).collect(), total))
}

pub async fn is_banned(db: &DatabaseConnection, room_id: i64, user_id: i64) -> Result<bool, DbErr> {
    Ok(room_bans::Entity::find_by_id((room_id, user_id)).one(db).await?.is_some())
}
