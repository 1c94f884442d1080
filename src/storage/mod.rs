//! Storage: the SQL database (sea-orm), the key-value store, the delay queue and the id
//! generator, plus one repository per aggregate.

pub mod bus;
pub mod commerce;
pub mod db;
pub mod entities;
pub mod gifts;
pub mod health;
pub mod idgen;
pub mod kv;
pub mod members;
pub mod mutes;
pub mod outbox;
pub mod pks;
pub mod privileges;
pub mod queue;
pub mod rains;
pub mod recharges;
pub mod redis_conn;
pub mod rooms;
pub mod status;
pub mod users;
pub mod wallets;

use crate::settings::Settings;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub use status::Stated;

/// The database error inside a failed transaction, whichever step failed.
pub fn tx_err(e: sea_orm::TransactionError<sea_orm::DbErr>) -> sea_orm::DbErr {
    match e {
        sea_orm::TransactionError::Connection(e) | sea_orm::TransactionError::Transaction(e) => e,
    }
}

/// Key prefixes the embedded store keeps in memory only: hot and worthless after a restart.
/// Rate-limit windows (`rl:`) are counted on every request; presence must not outlive the
/// process whose sockets it counts; `/im` tickets live 30 s and are taken once, at connect; the
/// PK join lock lives 5 s. Everything else (sessions, login codes, carts, notices) is kept.
pub const VOLATILE_KEYS: &[&str] = &["rl:", "presence:", "ticket:", "pk_join:"];

/// The embedded key-value file: `kv.path`, else beside an SQLite database file (same name,
/// `.kv`), else `data/liveroom.kv`; None for `:memory:` or an in-memory SQLite database.
pub fn embedded_kv_path(s: &Settings) -> Option<std::path::PathBuf> {
    let set = s.kv.path.trim();
    if set == ":memory:" {
        return None;
    }
    if !set.is_empty() {
        return Some(set.into());
    }
    let url = &s.database.url;
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let (path, query) =
            rest.trim_start_matches("//").split_once('?').unwrap_or((rest.trim_start_matches("//"), ""));
        if path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
            return None;
        }
        return Some(std::path::Path::new(path).with_extension("kv"));
    }
    Some("data/liveroom.kv".into())
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
    /// Which backends answer right now; calls fail fast while theirs is down.
    pub health: health::BackendHealth,
}

impl Backends {
    pub async fn connect(s: &Settings) -> anyhow::Result<Self> {
        let health = health::BackendHealth::new(std::time::Duration::from_millis(s.backends.timeout_ms));
        let db = db::connect_with(
            &s.database.url,
            s.database.max_connections,
            std::time::Duration::from_millis(s.database.acquire_timeout_ms),
            &health,
        )
        .await
        .map_err(|e| anyhow::anyhow!("database.url: cannot connect or migrate: {e}"))?;
        let kv: Arc<dyn kv::Kv> = if s.redis.url.is_empty() {
            match embedded_kv_path(s) {
                None => Arc::new(kv::MemoryKv::new()),
                Some(path) => {
                    Arc::new(kv::RedbKv::open(&path, VOLATILE_KEYS).map_err(|e| anyhow::anyhow!("kv.path: {e}"))?)
                }
            }
        } else {
            Arc::new(
                kv::RedisKv::connect_with(&s.redis.url, &s.redis.prefix, health.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?,
            )
        };
        let queue: Arc<dyn queue::DelayQueue> = if s.amqp.url.is_empty() {
            Arc::new(queue::LocalQueue::new(db.clone()))
        } else {
            Arc::new(
                queue::AmqpQueue::connect_with(&s.amqp.url, &s.amqp.prefix, health.clone())
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
            s.wallet_batch_deadline(),
        );
        let outbox = outbox::Outbox::new(db.clone(), queue.clone());
        Ok(Self { db, kv, queue, outbox, ids, wallets, health })
    }
}
