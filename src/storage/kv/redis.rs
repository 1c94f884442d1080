//! Redis key-value store: one `ConnectionManager` (it reconnects by itself), every key under a
//! prefix, Lua where an operation must be atomic.

use super::{Kv, KvError, KvResult};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
    incr_window: redis::Script,
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

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl RedisKv {
    pub async fn connect(url: &str, prefix: &str) -> KvResult<Self> {
        let client = redis::Client::open(url).map_err(err)?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_with_config(client, cfg).await.map_err(err)?;
        Ok(Self { conn, prefix: prefix.to_owned(), incr_window: redis::Script::new(INCR_WINDOW) })
    }

    fn k(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Deletes every key under this store's prefix (test clean-up).
    pub async fn delete_all(&self) -> KvResult<u64> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.map_err(err)?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

#[async_trait::async_trait]
impl Kv for RedisKv {
    async fn get(&self, key: &str) -> KvResult<Option<String>> {
        redis::cmd("GET").arg(self.k(key)).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        let mut c = redis::cmd("SET");
        c.arg(self.k(key)).arg(value);
        if let Some(t) = ttl {
            c.arg("PX").arg(ms(t));
        }
        c.query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> KvResult<bool> {
        let r: Option<String> = redis::cmd("SET")
            .arg(self.k(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(r.is_some())
    }

    async fn del(&self, key: &str) -> KvResult<bool> {
        let n: u64 = redis::cmd("DEL").arg(self.k(key)).query_async(&mut self.conn.clone()).await.map_err(err)?;
        Ok(n > 0)
    }

    async fn take(&self, key: &str) -> KvResult<Option<String>> {
        redis::cmd("GETDEL").arg(self.k(key)).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn incr_window(&self, key: &str, window: Duration) -> KvResult<(u64, Duration)> {
        let (n, left): (u64, i64) = self
            .incr_window
            .key(self.k(key))
            .arg(ms(window))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok((n, Duration::from_millis(left.max(0) as u64)))
    }

    async fn window_count(&self, key: &str) -> KvResult<u64> {
        Ok(self.get(key).await?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    async fn hget(&self, key: &str, field: &str) -> KvResult<Option<String>> {
        redis::cmd("HGET").arg(self.k(key)).arg(field).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn hset(&self, key: &str, field: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        let k = self.k(key);
        let mut p = redis::pipe();
        p.atomic().cmd("HSET").arg(&k).arg(field).arg(value).ignore();
        if let Some(t) = ttl {
            p.cmd("PEXPIRE").arg(&k).arg(ms(t)).ignore();
        }
        p.query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn hdel(&self, key: &str, field: &str) -> KvResult<bool> {
        let n: u64 =
            redis::cmd("HDEL").arg(self.k(key)).arg(field).query_async(&mut self.conn.clone()).await.map_err(err)?;
        Ok(n > 0)
    }

    async fn hgetall(&self, key: &str) -> KvResult<HashMap<String, String>> {
        redis::cmd("HGETALL").arg(self.k(key)).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn hincr(&self, key: &str, field: &str, by: i64) -> KvResult<i64> {
        redis::cmd("HINCRBY").arg(self.k(key)).arg(field).arg(by).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> KvResult<bool> {
        let n: u64 = redis::cmd("PEXPIRE")
            .arg(self.k(key))
            .arg(ms(ttl))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(n == 1)
    }

    async fn ping(&self) -> KvResult<()> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn.clone()).await.map_err(err)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
