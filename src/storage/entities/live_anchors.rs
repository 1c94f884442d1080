//! `live_anchors`: which room an anchor is live in; at most one row per anchor.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_anchors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub anchor_id: i64,
    pub room_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
