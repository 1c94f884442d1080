//! Storage: the SQL database (sea-orm), the key-value store, the delay queue and the id
//! generator, plus one repository per aggregate.

pub mod commerce;
pub mod db;
pub mod entities;
pub mod gifts;
pub mod idgen;
pub mod kv;
pub mod outbox;
pub mod pks;
pub mod privileges;
pub mod queue;
pub mod rains;
pub mod rooms;
pub mod users;
pub mod wallets;

use crate::settings::Settings;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// The database error inside a failed transaction, whichever step failed.
pub fn tx_err(e: sea_orm::TransactionError<sea_orm::DbErr>) -> sea_orm::DbErr {
    match e {
        sea_orm::TransactionError::Connection(e) | sea_orm::TransactionError::Transaction(e) => e,
    }
}

/// Every backend the app talks to, chosen by settings.
#[derive(Clone)]
pub struct Backends {
    pub db: DatabaseConnection,
    pub kv: Arc<dyn kv::Kv>,
    pub queue: Arc<dyn queue::DelayQueue>,
    /// Deferred work committed with its business change, relayed into `queue`.
    pub outbox: outbox::Outbox,
    pub ids: idgen::IdGen,
    pub wallets: wallets::Wallets,
}

impl Backends {
    pub async fn connect(s: &Settings) -> anyhow::Result<Self> {
        let db = db::connect(&s.database.url, s.database.max_connections)
            .await
            .map_err(|e| anyhow::anyhow!("database.url: cannot connect or migrate: {e}"))?;
        let kv: Arc<dyn kv::Kv> = if s.redis.url.is_empty() {
            Arc::new(kv::MemoryKv::new())
        } else {
            Arc::new(
                kv::RedisKv::connect(&s.redis.url, &s.redis.prefix)
                    .await
                    .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?,
            )
        };
        let queue: Arc<dyn queue::DelayQueue> = if s.amqp.url.is_empty() {
            Arc::new(queue::LocalQueue::new(db.clone()))
        } else {
            Arc::new(
                queue::AmqpQueue::connect(&s.amqp.url, &s.amqp.prefix)
                    .await
                    .map_err(|e| anyhow::anyhow!("amqp.url: {e}"))?,
            )
        };
        let ids = idgen::IdGen::new(db.clone(), 1000);
        let wallets = wallets::Wallets::start(
            db.clone(),
            ids.clone(),
            s.wallet.batch_max,
            std::time::Duration::from_micros(s.wallet.batch_wait_us),
        );
        let outbox = outbox::Outbox::new(db.clone(), queue.clone());
        Ok(Self { db, kv, queue, outbox, ids, wallets })
    }
}
