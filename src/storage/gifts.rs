//! The gift catalogue, recharge products and recharges, and room rankings.

use super::entities::{gift_sends, gifts, recharge_products, recharges, users};
use crate::clock::now_ms;
use crate::domain::money::RechargeStatus;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};

pub async fn catalogue(db: &DatabaseConnection) -> Result<Vec<gifts::Model>, DbErr> {
    gifts::Entity::find().order_by_asc(gifts::Column::Price).all(db).await
}

pub async fn gift(db: &DatabaseConnection, id: i64) -> Result<Option<gifts::Model>, DbErr> {
    gifts::Entity::find_by_id(id).one(db).await
}

pub async fn recharge_products(db: &DatabaseConnection) -> Result<Vec<recharge_products::Model>, DbErr> {
    recharge_products::Entity::find().order_by_asc(recharge_products::Column::Coins).all(db).await
}

pub async fn recharge_product(db: &DatabaseConnection, id: i64) -> Result<Option<recharge_products::Model>, DbErr> {
    recharge_products::Entity::find_by_id(id).one(db).await
}

pub async fn recharge_by_key(
    db: &DatabaseConnection,
    user_id: i64,
    key: &str,
) -> Result<Option<recharges::Model>, DbErr> {
    recharges::Entity::find()
        .filter(recharges::Column::UserId.eq(user_id))
        .filter(recharges::Column::IdemKey.eq(key))
        .one(db)
        .await
}

/// Stores a new recharge, `pending` until it is credited; fails when the user already has one
/// under `key` (the digest of their Idempotency-Key).
pub async fn insert_recharge(
    db: &DatabaseConnection,
    id: i64,
    user_id: i64,
    product: &recharge_products::Model,
    key: &str,
) -> Result<recharges::Model, DbErr> {
    let row = recharges::Model {
        id,
        user_id,
        product_id: product.id,
        coins: product.coins,
        price_cents: product.price_cents,
        idem_key: key.to_owned(),
        status: RechargeStatus::Pending.as_str().into(),
        created_at: now_ms(),
    };
    recharges::Entity::insert(recharges::ActiveModel::from(row.clone())).exec(db).await?;
    Ok(row)
}

pub async fn recharge(db: &DatabaseConnection, id: i64) -> Result<Option<recharges::Model>, DbErr> {
    recharges::Entity::find_by_id(id).one(db).await
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
