//! Redis key-value store: one connection (to a server or a Redis Cluster, `redis_conn`; it
//! reconnects by itself), every key under a prefix, Lua where an operation must be atomic.
//! Every operation names one key, so each goes to one slot of a cluster.

use super::{Kv, KvError, KvResult};
use crate::storage::health::{Backend, BackendHealth, CallError};
use crate::storage::redis_conn::RedisConn;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisKv {
    conn: RedisConn,
    prefix: String,
    incr_window: redis::Script,
    /// Every call reports here; while Redis is down calls fail fast.
    health: BackendHealth,
}

fn err(e: redis::RedisError) -> KvError {
    KvError(e.to_string())
}

/// INCR, starting the window's expiry on the first hit; returns the count and the ms left.
const INCR_WINDOW: &str = r"
local n = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {n, t}
";

/// A failure that says Redis is unreachable, as opposed to an error answer.
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl RedisKv {
    /// Connects with its own health tracker and a 3 s bound (tools and test clean-up).
    pub async fn connect(url: &str, prefix: &str) -> KvResult<Self> {
        Self::connect_with(url, prefix, BackendHealth::new(Duration::from_secs(3))).await
    }

    /// Connects; every call is bounded by `health`'s timeout and reports to it, and Redis is
    /// probed (through the same self-reconnecting manager) while it is down.
    pub async fn connect_with(url: &str, prefix: &str, health: BackendHealth) -> KvResult<Self> {
        let bound = health.timeout();
        // The connection reconnects by itself; its own retries stay inside the bound, and a
        // call while it reconnects waits no longer than the bound either.
        let conn = RedisConn::connect(url, bound, None).await.map_err(err)?;
        let probe_conn = conn.clone();
        health.set_probe(
            Backend::Redis,
            std::sync::Arc::new(move || {
                let mut c = probe_conn.clone();
                Box::pin(async move {
                    redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ()).map_err(|e| e.to_string())
                })
            }),
        );
        Ok(Self { conn, prefix: prefix.to_owned(), incr_window: redis::Script::new(INCR_WINDOW), health })
    }

    /// Runs one command through the health gate.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> KvResult<T> {
        let mut conn = self.conn.clone();
        self.guarded(cmd.query_async(&mut conn)).await
    }

    /// Fails fast while Redis is down, bounds the call, reports its outcome.
    async fn guarded<T>(&self, fut: impl std::future::Future<Output = redis::RedisResult<T>>) -> KvResult<T> {
        match self.health.call(Backend::Redis, fut, unreachable).await {
            Ok(v) => Ok(v),
            Err(CallError::Down(d)) => Err(KvError(d.to_string())),
            Err(CallError::Failed(e)) => Err(err(e)),
        }
    }

    fn k(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Deletes every key under this store's prefix (test clean-up). On a cluster `KEYS` is
    /// asked of every primary and the answers joined; each key is deleted on its own slot.
    pub async fn delete_all(&self) -> KvResult<u64> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query_async(&mut conn).await.map_err(err)?;
        let mut deleted = 0;
        for key in keys {
            let n: u64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.map_err(err)?;
            deleted += n;
        }
        Ok(deleted)
    }
}

#[async_trait::async_trait]
impl Kv for RedisKv {
    async fn get(&self, key: &str) -> KvResult<Option<String>> {
        self.query(redis::cmd("GET").arg(self.k(key))).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        let mut c = redis::cmd("SET");
        c.arg(self.k(key)).arg(value);
        if let Some(t) = ttl {
            c.arg("PX").arg(ms(t));
        }
        self.query(&c).await
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> KvResult<bool> {
        let r: Option<String> =
            self.query(redis::cmd("SET").arg(self.k(key)).arg(value).arg("NX").arg("PX").arg(ms(ttl))).await?;
        Ok(r.is_some())
    }

    async fn del(&self, key: &str) -> KvResult<bool> {
        let n: u64 = self.query(redis::cmd("DEL").arg(self.k(key))).await?;
        Ok(n > 0)
    }

    async fn take(&self, key: &str) -> KvResult<Option<String>> {
        self.query(redis::cmd("GETDEL").arg(self.k(key))).await
    }

    async fn incr_window(&self, key: &str, window: Duration) -> KvResult<(u64, Duration)> {
        let mut conn = self.conn.clone();
        let mut inv = self.incr_window.key(self.k(key));
        inv.arg(ms(window));
        let (n, left): (u64, i64) = self.guarded(inv.invoke_async(&mut conn)).await?;
        Ok((n, Duration::from_millis(left.max(0) as u64)))
    }

    async fn window_count(&self, key: &str) -> KvResult<u64> {
        Ok(self.get(key).await?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    async fn hget(&self, key: &str, field: &str) -> KvResult<Option<String>> {
        self.query(redis::cmd("HGET").arg(self.k(key)).arg(field)).await
    }

    async fn hset(&self, key: &str, field: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        let k = self.k(key);
        let mut p = redis::pipe();
        p.atomic().cmd("HSET").arg(&k).arg(field).arg(value).ignore();
        if let Some(t) = ttl {
            p.cmd("PEXPIRE").arg(&k).arg(ms(t)).ignore();
        }
        let mut conn = self.conn.clone();
        self.guarded(p.query_async(&mut conn)).await
    }

    async fn hdel(&self, key: &str, field: &str) -> KvResult<bool> {
        let n: u64 = self.query(redis::cmd("HDEL").arg(self.k(key)).arg(field)).await?;
        Ok(n > 0)
    }

    async fn hgetall(&self, key: &str) -> KvResult<HashMap<String, String>> {
        self.query(redis::cmd("HGETALL").arg(self.k(key))).await
    }

    async fn hincr(&self, key: &str, field: &str, by: i64) -> KvResult<i64> {
        self.query(redis::cmd("HINCRBY").arg(self.k(key)).arg(field).arg(by)).await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> KvResult<bool> {
        let n: u64 = self.query(redis::cmd("PEXPIRE").arg(self.k(key)).arg(ms(ttl))).await?;
        Ok(n == 1)
    }

    async fn ping(&self) -> KvResult<()> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
