//! PK rows: created waiting with a PK room, started by a challenger, ended once.

use super::entities::{gift_sends, pks};
use crate::clock::now_ms;
use crate::domain::pk::{apply_gift, PkStatus, Side, START_SCORE};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

pub async fn create_waiting(db: &DatabaseConnection, id: i64, room_id: i64, host_id: i64) -> Result<pks::Model, DbErr> {
    let m = pks::Model {
        id,
        room_id,
        host_id,
        challenger_id: None,
        challenger_room_id: None,
        status: PkStatus::Waiting.as_str().into(),
        score: START_SCORE,
        started_at: None,
        ends_at: None,
        winner: None,
        ended_at: None,
    };
    pks::Entity::insert(pks::ActiveModel {
        id: Set(m.id),
        room_id: Set(m.room_id),
        host_id: Set(m.host_id),
        challenger_id: Set(None),
        challenger_room_id: Set(None),
        status: Set(m.status.clone()),
        score: Set(m.score),
        started_at: Set(None),
        ends_at: Set(None),
        winner: Set(None),
        ended_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok(m)
}

/// The room's current or latest PK.
pub async fn latest(db: &DatabaseConnection, room_id: i64) -> Result<Option<pks::Model>, DbErr> {
    pks::Entity::find().filter(pks::Column::RoomId.eq(room_id)).order_by_desc(pks::Column::Id).one(db).await
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<pks::Model>, DbErr> {
    pks::Entity::find_by_id(id).one(db).await
}

/// Starts a waiting PK; false when it is not waiting any more.
pub async fn start(
    db: &DatabaseConnection,
    id: i64,
    challenger: i64,
    challenger_room: i64,
    duration_ms: i64,
) -> Result<bool, DbErr> {
    let now = now_ms();
    let r = pks::Entity::update_many()
        .col_expr(pks::Column::Status, Expr::value(PkStatus::Running.as_str()))
        .col_expr(pks::Column::ChallengerId, Expr::value(challenger))
        .col_expr(pks::Column::ChallengerRoomId, Expr::value(challenger_room))
        .col_expr(pks::Column::StartedAt, Expr::value(now))
        .col_expr(pks::Column::EndsAt, Expr::value(now + duration_ms))
        .col_expr(pks::Column::Score, Expr::value(START_SCORE))
        .filter(pks::Column::Id.eq(id))
        .filter(pks::Column::Status.eq(PkStatus::Waiting.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Ends a running PK with its final score and winner; false when it had ended already.
pub async fn end(db: &DatabaseConnection, id: i64, score: i64, winner: Option<i64>) -> Result<bool, DbErr> {
    let r = pks::Entity::update_many()
        .col_expr(pks::Column::Status, Expr::value(PkStatus::Ended.as_str()))
        .col_expr(pks::Column::Score, Expr::value(score))
        .col_expr(pks::Column::Winner, Expr::value(winner))
        .col_expr(pks::Column::EndedAt, Expr::value(now_ms()))
        .filter(pks::Column::Id.eq(id))
        .filter(pks::Column::Status.eq(PkStatus::Running.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The score of a PK rebuilt from its gifts in commit order (after a restart).
pub async fn replay_score(db: &DatabaseConnection, pk: &pks::Model) -> Result<i64, DbErr> {
    let gifts = gift_sends::Entity::find()
        .filter(gift_sends::Column::PkId.eq(pk.id))
        .order_by_asc(gift_sends::Column::Id)
        .all(db)
        .await?;
    let mut score = START_SCORE;
    for g in gifts {
        let side = if g.to_id == pk.host_id { Side::Host } else { Side::Challenger };
        // coins = price * count; the rule rounds price*count/10 down.
        score = apply_gift(score, side, g.coins, 1);
        if crate::domain::pk::is_knockout(score) {
            break;
        }
    }
    Ok(score)
}

/// Running PKs (the start-up sweeper ends or resumes them).
pub async fn running(db: &DatabaseConnection) -> Result<Vec<pks::Model>, DbErr> {
    pks::Entity::find().filter(pks::Column::Status.eq(PkStatus::Running.as_str())).all(db).await
}
