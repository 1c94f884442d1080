//! `trades`: every balance change, signed, unique per `(kind, ref)` so a retry applies once.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trades")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    #[sea_orm(column_name = "ref")]
    pub r#ref: String,
    pub amount: i64,
    pub balance_after: i64,
    pub created_at: i64,
    /// What the trade was, in words ("Gift sent: Rocket ×1"); None on trades made before notes.
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
