//! The gift catalogue and room rankings.

use super::entities::{gift_sends, gifts, users};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};

/// Every gift, cheapest first (served from memory by `services::gift_catalogue`).
pub async fn catalogue(db: &DatabaseConnection) -> Result<Vec<gifts::Model>, DbErr> {
    gifts::Entity::find().order_by_asc(gifts::Column::Price).all(db).await
}

#[derive(Debug, FromQueryResult)]
struct Sent {
    user_id: i64,
    coins: i64,
}

/// `(user_id, nickname, coins)` of everyone who sent gifts in a room, most first. Summed here
/// rather than in SQL, whose SUM types differ per database; it runs once when a room starts.
pub async fn ranking(db: &DatabaseConnection, room_id: i64) -> Result<Vec<(i64, String, i64)>, DbErr> {
    let rows: Vec<Sent> = gift_sends::Entity::find()
        .select_only()
        .column(gift_sends::Column::UserId)
        .column(gift_sends::Column::Coins)
        .filter(gift_sends::Column::RoomId.eq(room_id))
        .into_model::<Sent>()
        .all(db)
        .await?;
    let mut sums: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    for r in rows {
        *sums.entry(r.user_id).or_default() += r.coins;
    }
    let ids: Vec<i64> = sums.keys().copied().collect();
    let names: std::collections::HashMap<i64, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.nickname))
        .collect();
    let mut v: Vec<(i64, String, i64)> =
        sums.into_iter().map(|(id, c)| (id, names.get(&id).cloned().unwrap_or_default(), c)).collect();
    v.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    Ok(v)
}
