//! `gift_sends`: every gift sent, written with its debit; rankings are rebuilt from it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "gift_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub room_id: i64,
    pub user_id: i64,
    pub to_id: i64,
    pub gift_id: i64,
    pub count: i64,
    pub coins: i64,
    /// The PK the gift counted in, if one was running and not yet decided when it committed.
    pub pk_id: Option<i64>,
    /// Its place among the PK's counted gifts (1, 2, ...): the order their commits took the
    /// PK's row, whatever node sent them.
    pub pk_seq: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
