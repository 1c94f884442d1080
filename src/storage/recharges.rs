//! Recharges: the products coins are bought with, and each purchase, `pending` until its coins
//! are credited (the credit marks it paid in the same transaction: see `wallets::Effect`).

use super::entities::{recharge_products, recharges};
use crate::clock::now_ms;
use crate::domain::money::RechargeStatus;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

pub async fn products(db: &DatabaseConnection) -> Result<Vec<recharge_products::Model>, DbErr> {
    recharge_products::Entity::find().order_by_asc(recharge_products::Column::Coins).all(db).await
}

pub async fn product(db: &DatabaseConnection, id: i64) -> Result<Option<recharge_products::Model>, DbErr> {
    recharge_products::Entity::find_by_id(id).one(db).await
}

pub async fn by_key(db: &DatabaseConnection, user_id: i64, key: &str) -> Result<Option<recharges::Model>, DbErr> {
    recharges::Entity::find()
        .filter(recharges::Column::UserId.eq(user_id))
        .filter(recharges::Column::IdemKey.eq(key))
        .one(db)
        .await
}

/// Stores a new recharge, `pending` until it is credited; fails when the user already has one
/// under `key` (the digest of their Idempotency-Key).
pub async fn insert(
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

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<recharges::Model>, DbErr> {
    recharges::Entity::find_by_id(id).one(db).await
}
