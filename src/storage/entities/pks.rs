//! `pks`: PK battles; a PK room has one waiting from its creation.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub room_id: i64,
    pub host_id: i64,
    pub challenger_id: Option<i64>,
    pub challenger_room_id: Option<i64>,
    pub status: String,
    /// The host's share of the bar, 0..=100; with the three below, written with each counted
    /// gift's debit (`wallets::batch`).
    pub score: i64,
    pub host_coins: i64,
    pub challenger_coins: i64,
    /// Gifts counted so far: the tally's version.
    pub gifts: i64,
    /// Coins that move the bar one point, fixed when the PK starts.
    pub coins_per_point: i64,
    pub started_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub winner: Option<i64>,
    pub ended_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
