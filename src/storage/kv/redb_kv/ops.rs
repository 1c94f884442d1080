//! The [`Kv`] operations on [`RedbKv`]: a key under a volatile prefix goes to the in-memory
//! store; any other is read in a read transaction or changed in one write transaction.

use super::record::{deadline, load, store, Record, Value};
use super::{err, RedbKv};
use crate::storage::kv::{Kv, KvResult};
use std::collections::HashMap;
use std::time::Duration;

#[async_trait::async_trait]
impl Kv for RedbKv {
    async fn get(&self, key: &str) -> KvResult<Option<String>> {
        if let Some(m) = self.volatile(key) {
            return m.get(key).await;
        }
        self.read(|t, now| {
            Ok(load(t, key, now)?.and_then(|r| match r.value {
                Value::Str(s) => Some(s),
                Value::Hash(_) => None,
            }))
        })
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        if let Some(m) = self.volatile(key) {
            return m.set(key, value, ttl).await;
        }
        let value = value.to_owned();
        self.write(key, move |t, key, now| {
            let expires = ttl.map(|ttl| deadline(now, ttl)).unwrap_or(0);
            store(t, key, &Record { value: Value::Str(value.clone()), expires })
        })
        .await
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> KvResult<bool> {
        if let Some(m) = self.volatile(key) {
            return m.set_nx(key, value, ttl).await;
        }
        let value = value.to_owned();
        self.write(key, move |t, key, now| {
            if load(t, key, now)?.is_some() {
                return Ok(false);
            }
            store(t, key, &Record { value: Value::Str(value.clone()), expires: deadline(now, ttl) })?;
            Ok(true)
        })
        .await
    }

    async fn del(&self, key: &str) -> KvResult<bool> {
        if let Some(m) = self.volatile(key) {
            return m.del(key).await;
        }
        self.write(key, move |t, key, now| {
            let live = load(t, key, now)?.is_some();
            t.remove(key).map_err(err)?;
            Ok(live)
        })
        .await
    }

    async fn take(&self, key: &str) -> KvResult<Option<String>> {
        if let Some(m) = self.volatile(key) {
            return m.take(key).await;
        }
        self.write(key, move |t, key, now| match load(t, key, now)? {
            Some(Record { value: Value::Str(s), .. }) => {
                t.remove(key).map_err(err)?;
                Ok(Some(s))
            }
            _ => Ok(None),
        })
        .await
    }

    async fn incr_window(&self, key: &str, window: Duration) -> KvResult<(u64, Duration)> {
        if let Some(m) = self.volatile(key) {
            return m.incr_window(key, window).await;
        }
        self.write(key, move |t, key, now| {
            let (n, expires) = match load(t, key, now)? {
                Some(Record { value: Value::Str(s), expires }) => (s.parse::<u64>().unwrap_or(0) + 1, expires),
                _ => (1, deadline(now, window)),
            };
            store(t, key, &Record { value: Value::Str(n.to_string()), expires })?;
            let left = if expires == 0 { window } else { Duration::from_millis(expires.saturating_sub(now)) };
            Ok((n, left))
        })
        .await
    }

    async fn window_count(&self, key: &str) -> KvResult<u64> {
        Ok(self.get(key).await?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    async fn hget(&self, key: &str, field: &str) -> KvResult<Option<String>> {
        if let Some(m) = self.volatile(key) {
            return m.hget(key, field).await;
        }
        self.read(|t, now| {
            Ok(match load(t, key, now)? {
                Some(Record { value: Value::Hash(mut h), .. }) => h.remove(field),
                _ => None,
            })
        })
    }

    async fn hset(&self, key: &str, field: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        if let Some(m) = self.volatile(key) {
            return m.hset(key, field, value, ttl).await;
        }
        let (field, value) = (field.to_owned(), value.to_owned());
        self.write(key, move |t, key, now| {
            let (mut h, old_expires) = match load(t, key, now)? {
                Some(Record { value: Value::Hash(h), expires }) => (h, expires),
                _ => (HashMap::new(), 0),
            };
            h.insert(field.clone(), value.clone());
            let expires = ttl.map(|ttl| deadline(now, ttl)).unwrap_or(old_expires);
            store(t, key, &Record { value: Value::Hash(h), expires })
        })
        .await
    }

    async fn hdel(&self, key: &str, field: &str) -> KvResult<bool> {
        if let Some(m) = self.volatile(key) {
            return m.hdel(key, field).await;
        }
        let field = field.to_owned();
        self.write(key, move |t, key, now| {
            let Some(Record { value: Value::Hash(mut h), expires }) = load(t, key, now)? else {
                return Ok(false);
            };
            if h.remove(field.as_str()).is_none() {
                return Ok(false);
            }
            if h.is_empty() {
                t.remove(key).map_err(err)?;
            } else {
                store(t, key, &Record { value: Value::Hash(h), expires })?;
            }
            Ok(true)
        })
        .await
    }

    async fn hgetall(&self, key: &str) -> KvResult<HashMap<String, String>> {
        if let Some(m) = self.volatile(key) {
            return m.hgetall(key).await;
        }
        self.read(|t, now| {
            Ok(match load(t, key, now)? {
                Some(Record { value: Value::Hash(h), .. }) => h,
                _ => HashMap::new(),
            })
        })
    }

    async fn hincr(&self, key: &str, field: &str, by: i64) -> KvResult<i64> {
        if let Some(m) = self.volatile(key) {
            return m.hincr(key, field, by).await;
        }
        let field = field.to_owned();
        self.write(key, move |t, key, now| {
            let (mut h, expires) = match load(t, key, now)? {
                Some(Record { value: Value::Hash(h), expires }) => (h, expires),
                _ => (HashMap::new(), 0),
            };
            let v = h.get(field.as_str()).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0) + by;
            h.insert(field.clone(), v.to_string());
            store(t, key, &Record { value: Value::Hash(h), expires })?;
            Ok(v)
        })
        .await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> KvResult<bool> {
        if let Some(m) = self.volatile(key) {
            return m.expire(key, ttl).await;
        }
        self.write(key, move |t, key, now| match load(t, key, now)? {
            Some(mut r) => {
                r.expires = deadline(now, ttl);
                store(t, key, &r)?;
                Ok(true)
            }
            None => Ok(false),
        })
        .await
    }

    async fn ping(&self) -> KvResult<()> {
        self.read(|_, _| Ok(()))
    }

    fn close(&self) {
        self.inner.close();
    }

    fn backend(&self) -> &'static str {
        "redb"
    }
}
