//! `id_segments`: the high-water mark of each id series, taken in ranges with optimistic locks.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "id_segments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub biz: String,
    pub max_id: i64,
    pub step: i64,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
