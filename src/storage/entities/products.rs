//! `products`: what an anchor sells; `left_stock` is stock not sold or reserved, never below zero.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub anchor_id: i64,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub left_stock: i64,
    /// Bumped by every change of `left_stock`, so announcements of it can be ordered.
    pub stock_version: i64,
    pub status: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
