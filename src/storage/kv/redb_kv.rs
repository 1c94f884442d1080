//! The embedded key-value store that survives a restart: a `redb` file (by default beside the
//! SQLite database). Keys whose prefix is declared volatile (rate-limit windows, presence,
//! one-use tickets, short locks) live in memory instead: they are hot, worthless after a restart
//! (presence of a dead process would even be wrong), and would only cost disk writes.
//!
//! Durability: each write is its own redb transaction (so each call is atomic) committed with
//! `Durability::None`, which writes no fsync; a background thread makes a durable commit once a
//! second when anything was written, and `close` (graceful shutdown) makes a last one. A crash
//! (not a clean stop) can lose at most the last second of sessions, carts and notices; the file
//! itself stays consistent (redb's commits are copy-on-write).
//!
//! Record layout inside the one table `kv` (`&str` → bytes): one kind byte (`0` string, `1`
//! hash), the expiry as wall-clock milliseconds since the Unix epoch (u64 little-endian, `0` for
//! none; wall clock so that a TTL keeps running across a restart), then the value: the string's
//! UTF-8, or the hash as a JSON object of strings.

use super::{Kv, KvError, KvResult, MemoryKv};
use parking_lot::RwLock;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// How often written data is made durable.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often expired keys are removed from the file (reads already ignore them).
const SWEEP_EVERY_FLUSHES: u32 = 30;
const CACHE_BYTES: usize = 32 << 20;

const KIND_STR: u8 = 0;
const KIND_HASH: u8 = 1;

enum Value {
    Str(String),
    Hash(HashMap<String, String>),
}

struct Record {
    value: Value,
    /// Wall-clock ms; 0: no expiry.
    expires: u64,
}

impl Record {
    fn live(&self, now: u64) -> bool {
        self.expires == 0 || self.expires > now
    }

    fn encode(&self) -> Vec<u8> {
        let (kind, body) = match &self.value {
            Value::Str(s) => (KIND_STR, s.as_bytes().to_vec()),
            Value::Hash(h) => (KIND_HASH, serde_json::to_vec(h).unwrap_or_default()),
        };
        let mut out = Vec::with_capacity(9 + body.len());
        out.push(kind);
        out.extend_from_slice(&self.expires.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// None for bytes this module did not write (treated as absent).
    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 9 {
            return None;
        }
        let expires = u64::from_le_bytes(bytes[1..9].try_into().ok()?);
        let body = &bytes[9..];
        let value = match bytes[0] {
            KIND_STR => Value::Str(String::from_utf8(body.to_vec()).ok()?),
            KIND_HASH => Value::Hash(serde_json::from_slice(body).ok()?),
            _ => return None,
        };
        Some(Self { value, expires })
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A TTL as an absolute expiry; at least 1 ms so that a TTL never means "no expiry".
fn deadline(now: u64, ttl: Duration) -> u64 {
    now + (ttl.as_millis() as u64).max(1)
}

fn err(e: impl std::fmt::Display) -> KvError {
    KvError(format!("redb: {e}"))
}

type Table<'t> = redb::Table<'t, &'static str, &'static [u8]>;

struct Inner {
    /// None once closed: later calls fail instead of writing to a file another process may own.
    db: RwLock<Option<Database>>,
    /// Set by every write, cleared by the durable commit that covers it.
    dirty: AtomicBool,
    volatile: MemoryKv,
    volatile_prefixes: Vec<String>,
    path: PathBuf,
}

impl Inner {
    /// A durable commit of everything written so far (an empty transaction suffices).
    fn flush(&self) -> KvResult<()> {
        let guard = self.db.read();
        let Some(db) = guard.as_ref() else { return Ok(()) };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let mut tx = db.begin_write().map_err(err)?;
        tx.set_durability(Durability::Immediate);
        tx.commit().map_err(|e| {
            self.dirty.store(true, Ordering::Release);
            err(e)
        })
    }

    /// Deletes expired records: found under a read transaction, so writers are not held up
    /// while the table is scanned, then removed if still expired.
    fn sweep(&self) -> KvResult<usize> {
        let guard = self.db.read();
        let Some(db) = guard.as_ref() else { return Ok(0) };
        let now = now_ms();
        let expired: Vec<String> = {
            let tx = db.begin_read().map_err(err)?;
            let table = tx.open_table(TABLE).map_err(err)?;
            let mut v = Vec::new();
            for row in table.iter().map_err(err)? {
                let (k, val) = row.map_err(err)?;
                if Record::decode(val.value()).is_none_or(|r| !r.live(now)) {
                    v.push(k.value().to_owned());
                }
            }
            v
        };
        if expired.is_empty() {
            return Ok(0);
        }
        let mut tx = db.begin_write().map_err(err)?;
        tx.set_durability(Durability::None);
        let mut removed = 0;
        {
            let mut table = tx.open_table(TABLE).map_err(err)?;
            for k in &expired {
                let still = table.get(k.as_str()).map_err(err)?.map(|g| Record::decode(g.value()));
                if let Some(r) = still {
                    if r.is_none_or(|r| !r.live(now)) {
                        table.remove(k.as_str()).map_err(err)?;
                        removed += 1;
                    }
                }
            }
        }
        tx.commit().map_err(err)?;
        self.dirty.store(true, Ordering::Release);
        Ok(removed)
    }

    fn close(&self) {
        let mut guard = self.db.write();
        if let Some(db) = guard.take() {
            if let Ok(mut tx) = db.begin_write() {
                tx.set_durability(Durability::Immediate);
                if let Err(e) = tx.commit() {
                    tracing::error!(path = %self.path.display(), error = %e, "key-value store: last durable commit failed");
                }
            }
            drop(db);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

/// The durable embedded store; cheap to clone.
#[derive(Clone)]
pub struct RedbKv {
    inner: Arc<Inner>,
}

impl RedbKv {
    /// Opens (or creates) the store at `path`. Keys starting with one of `volatile_prefixes` are
    /// kept in memory only. Fails when another process has the file open.
    pub fn open(path: &Path, volatile_prefixes: &[&str]) -> KvResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| err(format!("{}: {e}", parent.display())))?;
        }
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                KvError(format!("{}: already open (is another liveroom running on it?)", path.display()))
            }
            e => err(format!("{}: {e}", path.display())),
        })?;
        let mut tx = db.begin_write().map_err(err)?;
        tx.set_durability(Durability::Immediate);
        tx.open_table(TABLE).map_err(err)?;
        tx.commit().map_err(err)?;
        let inner = Arc::new(Inner {
            db: RwLock::new(Some(db)),
            dirty: AtomicBool::new(false),
            volatile: MemoryKv::new(),
            volatile_prefixes: volatile_prefixes.iter().map(|p| (*p).to_owned()).collect(),
            path: path.to_owned(),
        });
        spawn_flusher(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// How many records the file holds, expired ones not yet swept included (tests, metrics).
    pub fn durable_len(&self) -> KvResult<u64> {
        self.read(|t, _| t.len().map_err(err))
    }

    /// Removes expired records now (the background thread does it every half minute).
    pub fn sweep(&self) -> KvResult<usize> {
        self.inner.sweep()
    }

    fn volatile(&self, key: &str) -> Option<&MemoryKv> {
        self.inner.volatile_prefixes.iter().any(|p| key.starts_with(p.as_str())).then_some(&self.inner.volatile)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>, u64) -> KvResult<T>,
    ) -> KvResult<T> {
        let guard = self.inner.db.read();
        let db = guard.as_ref().ok_or_else(|| KvError("key-value store is closed".into()))?;
        let tx = db.begin_read().map_err(err)?;
        let table = tx.open_table(TABLE).map_err(err)?;
        f(&table, now_ms())
    }

    /// Runs `f` on `key` in one write transaction (so the call is atomic) and commits it without
    /// fsync; the flusher makes it durable within a second. It runs on the blocking pool: a
    /// writer can wait for the flusher's fsync, and that must not stall an async worker's other
    /// sockets and requests (reads never wait for writers in redb, so they run inline).
    async fn write<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&mut Table<'_>, &str, u64) -> KvResult<T> + Send + 'static,
    ) -> KvResult<T> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        let run = move || {
            let guard = inner.db.read();
            let db = guard.as_ref().ok_or_else(|| KvError("key-value store is closed".into()))?;
            let mut tx = db.begin_write().map_err(err)?;
            tx.set_durability(Durability::None);
            let out = {
                let mut table = tx.open_table(TABLE).map_err(err)?;
                f(&mut table, &key, now_ms())?
            };
            tx.commit().map_err(err)?;
            inner.dirty.store(true, Ordering::Release);
            Ok(out)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(run).await.map_err(err)?,
            Err(_) => run(),
        }
    }
}

/// The live record under `key`, expired ones read as absent.
fn load(table: &impl ReadableTable<&'static str, &'static [u8]>, key: &str, now: u64) -> KvResult<Option<Record>> {
    Ok(table.get(key).map_err(err)?.and_then(|g| Record::decode(g.value())).filter(|r| r.live(now)))
}

fn store(table: &mut Table<'_>, key: &str, record: &Record) -> KvResult<()> {
    table.insert(key, record.encode().as_slice()).map_err(err)?;
    Ok(())
}

/// Durable commits once a second and expired-key sweeps, on a thread of its own so that an
/// fsync never blocks the async runtime; it ends when the store is closed or dropped.
fn spawn_flusher(weak: Weak<Inner>) {
    let spawned = std::thread::Builder::new().name("kv-flush".into()).spawn(move || {
        let mut ticks = 0u32;
        loop {
            std::thread::sleep(FLUSH_EVERY);
            let Some(inner) = weak.upgrade() else { break };
            if inner.db.read().is_none() {
                break;
            }
            ticks += 1;
            if ticks % SWEEP_EVERY_FLUSHES == 0 {
                if let Err(e) = inner.sweep() {
                    tracing::warn!(error = %e, "key-value store: sweeping expired keys failed");
                }
            }
            if let Err(e) = inner.flush() {
                tracing::error!(error = %e, "key-value store: durable commit failed");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "key-value store: cannot start the flush thread; data is made durable at close only");
    }
}

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
            store(t, key, &Record { value: Value::Str(value), expires })
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
            store(t, key, &Record { value: Value::Str(value), expires: deadline(now, ttl) })?;
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
            h.insert(field, value);
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
            h.insert(field, v.to_string());
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
