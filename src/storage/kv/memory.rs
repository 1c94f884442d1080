//! In-memory key-value store with TTL expiry; a mutex makes every operation atomic.

use super::{Kv, KvResult};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

enum Value {
    Str(String),
    Hash(HashMap<String, String>),
}

struct Entry {
    value: Value,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// Sharded so that unrelated keys do not contend on one lock.
#[derive(Clone)]
pub struct MemoryKv {
    shards: Arc<Vec<Mutex<HashMap<String, Entry>>>>,
}

const SHARDS: usize = 32;

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryKv {
    pub fn new() -> Self {
        let kv = Self { shards: Arc::new((0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect()) };
        kv.spawn_sweeper();
        kv
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Entry>> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        &self.shards[(h as usize) % SHARDS]
    }

    /// Removes expired entries now and then so memory stays bounded by live keys.
    fn spawn_sweeper(&self) {
        let weak = Arc::downgrade(&self.shards);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let Some(shards) = weak.upgrade() else { break };
                    let now = Instant::now();
                    for s in shards.iter() {
                        s.lock().retain(|_, e| e.live(now));
                    }
                }
            });
        }
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let mut g = self.shard(key).lock();
        let now = Instant::now();
        if g.get(key).is_some_and(|e| !e.live(now)) {
            g.remove(key);
        }
        f(&mut g, now)
    }
}

#[async_trait::async_trait]
impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> KvResult<Option<String>> {
        Ok(self.with(key, |m, _| match m.get(key) {
            Some(Entry { value: Value::Str(s), .. }) => Some(s.clone()),
            _ => None,
        }))
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        self.with(key, |m, now| {
            m.insert(key.to_owned(), Entry { value: Value::Str(value.to_owned()), expires: ttl.map(|t| now + t) });
        });
        Ok(())
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> KvResult<bool> {
        Ok(self.with(key, |m, now| {
            if m.contains_key(key) {
                return false;
            }
            m.insert(key.to_owned(), Entry { value: Value::Str(value.to_owned()), expires: Some(now + ttl) });
            true
        }))
    }

    async fn del(&self, key: &str) -> KvResult<bool> {
        Ok(self.with(key, |m, _| m.remove(key).is_some()))
    }

    async fn take(&self, key: &str) -> KvResult<Option<String>> {
        Ok(self.with(key, |m, _| match m.remove(key) {
            Some(Entry { value: Value::Str(s), .. }) => Some(s),
            Some(other) => {
                m.insert(key.to_owned(), other);
                None
            }
            None => None,
        }))
    }

    async fn incr_window(&self, key: &str, window: Duration) -> KvResult<(u64, Duration)> {
        Ok(self.with(key, |m, now| {
            let e = m
                .entry(key.to_owned())
                .or_insert_with(|| Entry { value: Value::Str("0".into()), expires: Some(now + window) });
            let n = match &e.value {
                Value::Str(s) => s.parse::<u64>().unwrap_or(0) + 1,
                Value::Hash(_) => 1,
            };
            e.value = Value::Str(n.to_string());
            let left = e.expires.map(|x| x.saturating_duration_since(now)).unwrap_or(window);
            (n, left)
        }))
    }

    async fn window_count(&self, key: &str) -> KvResult<u64> {
        Ok(self.get(key).await?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    async fn hget(&self, key: &str, field: &str) -> KvResult<Option<String>> {
        Ok(self.with(key, |m, _| match m.get(key) {
            Some(Entry { value: Value::Hash(h), .. }) => h.get(field).cloned(),
            _ => None,
        }))
    }

    async fn hset(&self, key: &str, field: &str, value: &str, ttl: Option<Duration>) -> KvResult<()> {
        self.with(key, |m, now| {
            let e =
                m.entry(key.to_owned()).or_insert_with(|| Entry { value: Value::Hash(HashMap::new()), expires: None });
            if !matches!(e.value, Value::Hash(_)) {
                e.value = Value::Hash(HashMap::new());
            }
            if let Value::Hash(h) = &mut e.value {
                h.insert(field.to_owned(), value.to_owned());
            }
            if let Some(t) = ttl {
                e.expires = Some(now + t);
            }
        });
        Ok(())
    }

    async fn hdel(&self, key: &str, field: &str) -> KvResult<bool> {
        Ok(self.with(key, |m, _| {
            let Some(Entry { value: Value::Hash(h), .. }) = m.get_mut(key) else {
                return false;
            };
            let had = h.remove(field).is_some();
            if h.is_empty() {
                m.remove(key);
            }
            had
        }))
    }

    async fn hgetall(&self, key: &str) -> KvResult<HashMap<String, String>> {
        Ok(self.with(key, |m, _| match m.get(key) {
            Some(Entry { value: Value::Hash(h), .. }) => h.clone(),
            _ => HashMap::new(),
        }))
    }

    async fn hincr(&self, key: &str, field: &str, by: i64) -> KvResult<i64> {
        Ok(self.with(key, |m, _| {
            let e =
                m.entry(key.to_owned()).or_insert_with(|| Entry { value: Value::Hash(HashMap::new()), expires: None });
            if !matches!(e.value, Value::Hash(_)) {
                e.value = Value::Hash(HashMap::new());
            }
            let Value::Hash(h) = &mut e.value else {
                return 0;
            };
            let v = h.get(field).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0) + by;
            h.insert(field.to_owned(), v.to_string());
            v
        }))
    }

    async fn expire(&self, key: &str, ttl: Duration) -> KvResult<bool> {
        Ok(self.with(key, |m, now| match m.get_mut(key) {
            Some(e) => {
                e.expires = Some(now + ttl);
                true
            }
            None => false,
        }))
    }

    async fn ping(&self) -> KvResult<()> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
