//! `outbox`: deferred work committed with the change that needs it, waiting to be relayed to
//! the delay queue (and kept while the queue is unreachable).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The job kind its handler is registered under.
    pub kind: String,
    pub payload: String,
    /// When the job should run (ms); the relay hands the queue the delay left until then.
    pub due_at: i64,
    pub created_at: i64,
    /// Failed relay attempts, for the back-off.
    pub attempts: i32,
    /// A relay that claims the row sets this ahead; other relays skip it until then.
    pub locked_until: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
