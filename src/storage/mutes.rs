//! Room mutes in the database, so that they and their end survive a restart. The room actor
//! keeps the live copy it checks on every chat and loads this one when it starts.

use super::entities::room_mutes;
use crate::clock::now_ms;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

/// Mutes `user_id` in `room_id` until `until_ms` (a later mute replaces an earlier one), and
/// forgets the room's mutes that have ended.
pub async fn mute(db: &DatabaseConnection, room_id: i64, user_id: i64, until_ms: i64) -> Result<(), DbErr> {
    room_mutes::Entity::delete_many()
        .filter(room_mutes::Column::RoomId.eq(room_id))
        .filter(room_mutes::Column::UntilMs.lte(now_ms()))
        .exec(db)
        .await?;
    room_mutes::Entity::insert(room_mutes::ActiveModel {
        room_id: Set(room_id),
        user_id: Set(user_id),
        until_ms: Set(until_ms),
    })
    .on_conflict(
        OnConflict::columns([room_mutes::Column::RoomId, room_mutes::Column::UserId])
            .update_column(room_mutes::Column::UntilMs)
            .to_owned(),
    )
    .exec(db)
    .await
    .map(|_| ())
}

pub async fn unmute(db: &DatabaseConnection, room_id: i64, user_id: i64) -> Result<(), DbErr> {
    room_mutes::Entity::delete_by_id((room_id, user_id)).exec(db).await.map(|_| ())
}

/// The room's mutes that have not ended: `(user_id, until_ms)`.
pub async fn active(db: &DatabaseConnection, room_id: i64) -> Result<Vec<(i64, i64)>, DbErr> {
    Ok(room_mutes::Entity::find()
        .filter(room_mutes::Column::RoomId.eq(room_id))
        .filter(room_mutes::Column::UntilMs.gt(now_ms()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.until_ms))
        .collect())
}
