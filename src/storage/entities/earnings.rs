//! `earnings`: one credit of an anchor's income per gift received or order sold, written in the
//! same transaction as the buyer's debit (`trade_id`). `coins` is what the buyer paid,
//! `fee` the platform's share, `amount` the anchor's (`coins = fee + amount`, a CHECK).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "earnings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// The anchor credited.
    pub user_id: i64,
    /// The buyer's trade.
    pub trade_id: i64,
    /// `gift` or `order`.
    pub kind: String,
    /// The buyer.
    pub from_id: i64,
    pub room_id: Option<i64>,
    /// What was bought, in words ("Rocket ×1", "Order #12: Mug ×2").
    pub title: String,
    pub coins: i64,
    pub fee: i64,
    pub amount: i64,
    pub income_after: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
