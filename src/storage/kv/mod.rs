//! The key-value store: login codes, sessions, tickets, rate-limit windows, carts, presence.
//! One trait, three implementations: a `redb` file (the embedded default, survives a restart),
//! in-memory (tests, benches, `kv.path = ":memory:"`) and Redis.

pub mod keys;
mod memory;
mod redb_kv;
mod redis;

pub use self::redis::RedisKv;
pub use memory::MemoryKv;
pub use redb_kv::RedbKv;

use std::collections::HashMap;
use std::time::Duration;

/// A store failure (connection lost, protocol error). Callers answer 500 or 503.
#[derive(Debug, Clone, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

pub type KvResult<T> = Result<T, KvError>;

/// Atomic operations over string keys. Every implementation applies each call atomically.
#[async_trait::async_trait]
pub trait Kv: Send + Sync + 'static {
    async fn get(&self, key: &str) -> KvResult<Option<String>>;
    /// Sets `key`, replacing any value; `ttl` None keeps it until deleted.
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> KvResult<()>;
    /// Sets `key` only when absent; true when it was set.
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> KvResult<bool>;
    /// Deletes `key`; true when it existed.
    async fn del(&self, key: &str) -> KvResult<bool>;
    /// Gets and deletes `key` in one step (one-use tickets).
    async fn take(&self, key: &str) -> KvResult<Option<String>>;
    /// Counts one hit in the fixed window that starts at the first hit; returns the count in the
    /// window so far (this hit included) and the time left in the window.
    async fn incr_window(&self, key: &str, window: Duration) -> KvResult<(u64, Duration)>;
    /// The current count of a window without adding to it.
    async fn window_count(&self, key: &str) -> KvResult<u64>;
    async fn hget(&self, key: &str, field: &str) -> KvResult<Option<String>>;
    /// Sets one field and (re)sets the hash's TTL.
    async fn hset(&self, key: &str, field: &str, value: &str, ttl: Option<Duration>) -> KvResult<()>;
    async fn hdel(&self, key: &str, field: &str) -> KvResult<bool>;
    async fn hgetall(&self, key: &str) -> KvResult<HashMap<String, String>>;
    /// Adds `by` to a hash field and returns the new value (presence counts).
    async fn hincr(&self, key: &str, field: &str, by: i64) -> KvResult<i64>;
    /// Sets a key's time to live; false when there is no such key.
    async fn expire(&self, key: &str, ttl: Duration) -> KvResult<bool>;
    /// Answers when the store is reachable.
    async fn ping(&self) -> KvResult<()>;
    /// Makes everything written durable and releases the store (graceful shutdown, so that the
    /// next process can open an embedded file); later calls fail. Servers need nothing.
    fn close(&self) {}
    /// Which implementation this is, for `/api/health`.
    fn backend(&self) -> &'static str;
}
