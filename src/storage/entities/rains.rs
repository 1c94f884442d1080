//! `rains`: one red-packet rain in a room: prepared (paid for), running, ended (the rest refunded).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rains")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub room_id: i64,
    pub anchor_id: i64,
    pub application_id: i64,
    pub status: String,
    pub total_coins: i64,
    pub packets: i64,
    pub ends_at: Option<i64>,
    /// Coins returned to the anchor at the end.
    pub refunded: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
