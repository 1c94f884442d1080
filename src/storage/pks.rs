//! PK rows: created waiting with a PK room, started by a challenger, ended once.

use super::entities::{gift_sends, pks};
use crate::clock::now_ms;
use crate::domain::pk::{PkStatus, START_SCORE};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

/// A PK's tally as its row keeps it.
impl From<&pks::Model> for crate::domain::pk::PkTally {
    fn from(p: &pks::Model) -> Self {
        Self {
            pk_id: p.id,
            room_id: p.room_id,
            gifts: p.gifts,
            score: p.score,
            host_coins: p.host_coins,
            challenger_coins: p.challenger_coins,
            coins_per_point: p.coins_per_point,
        }
    }
}

pub async fn create_waiting(db: &DatabaseConnection, id: i64, room_id: i64, host_id: i64) -> Result<pks::Model, DbErr> {
    let m = pks::Model {
        id,
        room_id,
        host_id,
        challenger_id: None,
        challenger_room_id: None,
        status: PkStatus::Waiting.as_str().into(),
        score: START_SCORE,
        host_coins: 0,
        challenger_coins: 0,
        gifts: 0,
        coins_per_point: crate::domain::pk::COINS_PER_POINT,
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
        host_coins: Set(0),
        challenger_coins: Set(0),
        gifts: Set(0),
        coins_per_point: Set(m.coins_per_point),
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

/// Starts a waiting PK on its scale; false when it is not waiting any more.
pub async fn start(
    db: &DatabaseConnection,
    id: i64,
    challenger: i64,
    challenger_room: i64,
    duration_ms: i64,
    coins_per_point: i64,
) -> Result<bool, DbErr> {
    let now = now_ms();
    let r = pks::Entity::update_many()
        .col_expr(pks::Column::Status, Expr::value(PkStatus::Running.as_str()))
        .col_expr(pks::Column::ChallengerId, Expr::value(challenger))
        .col_expr(pks::Column::ChallengerRoomId, Expr::value(challenger_room))
        .col_expr(pks::Column::StartedAt, Expr::value(now))
        .col_expr(pks::Column::EndsAt, Expr::value(now + duration_ms))
        .col_expr(pks::Column::Score, Expr::value(START_SCORE))
        .col_expr(pks::Column::HostCoins, Expr::value(0))
        .col_expr(pks::Column::ChallengerCoins, Expr::value(0))
        .col_expr(pks::Column::Gifts, Expr::value(0))
        .col_expr(pks::Column::CoinsPerPoint, Expr::value(coins_per_point.max(1)))
        .filter(pks::Column::Id.eq(id))
        .filter(pks::Column::Status.eq(PkStatus::Waiting.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Why a PK is ended, as storage decides its winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// By its score as stored (the timer, a knockout, a closed room): the side over 50 wins,
    /// 50 is a draw.
    ByScore,
    /// This user left: the other side wins.
    Left(i64),
}

/// Ends a running PK and answers its stored row; None when it had ended already. One
/// statement: the winner comes from the score as stored, the tally every committed gift
/// wrote, so no gift committed before the end is missed and none after it counts (a gift
/// counts only while its PK runs).
pub async fn end(db: &DatabaseConnection, id: i64, how: Decided) -> Result<Option<pks::Model>, DbErr> {
    let winner = match how {
        Decided::ByScore => Expr::cust(format!(
            "CASE WHEN score > {START_SCORE} THEN host_id WHEN score < {START_SCORE} THEN challenger_id ELSE NULL END"
        )),
        Decided::Left(leaver) => {
            Expr::cust(format!("CASE WHEN host_id = {leaver} THEN challenger_id ELSE host_id END"))
        }
    };
    let r = pks::Entity::update_many()
        .col_expr(pks::Column::Status, Expr::value(PkStatus::Ended.as_str()))
        .col_expr(pks::Column::Winner, winner)
        .col_expr(pks::Column::EndedAt, Expr::value(now_ms()))
        .filter(pks::Column::Id.eq(id))
        .filter(pks::Column::Status.eq(PkStatus::Running.as_str()))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Ok(None);
    }
    find(db, id).await
}

/// The gifts counted in a PK, in the order their commits took its row.
pub async fn counted_gifts(db: &DatabaseConnection, pk_id: i64) -> Result<Vec<gift_sends::Model>, DbErr> {
    gift_sends::Entity::find()
        .filter(gift_sends::Column::PkId.eq(pk_id))
        .order_by_asc(gift_sends::Column::PkSeq)
        .all(db)
        .await
}

/// Running PKs (the start-up sweeper ends or resumes them).
pub async fn running(db: &DatabaseConnection) -> Result<Vec<pks::Model>, DbErr> {
    pks::Entity::find().filter(pks::Column::Status.eq(PkStatus::Running.as_str())).all(db).await
}
