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
    pub score: i64,
    pub started_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub winner: Option<i64>,
    pub ended_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
