//! The embedded key-value store that survives a restart: a `redb` file (by default beside the
//! SQLite database). Keys whose prefix is declared volatile (rate-limit windows, presence,
//! one-use tickets, short locks) live in memory instead: they are hot, worthless after a restart
//! (presence of a dead process would even be wrong), and would only cost disk writes.
//!
//! The parts, by concept:
//! - this file: the store handle ([`RedbKv`]), opening the file, routing volatile keys to memory,
//!   and the read and write transactions every operation runs in;
//! - `record`: how a value and its expiry are laid out in the file, and reading one back;
//! - `writer`: group commit, one thread running the writes waiting for it in one transaction;
//! - `durability`: the once-a-second durable commit, sweeping expired keys, and closing;
//! - `ops`: the `Kv` operations themselves.

mod durability;
mod ops;
mod record;
mod writer;

use super::{KvError, KvResult, MemoryKv};
use durability::spawn_flusher;
use parking_lot::RwLock;
use record::now_ms;
use redb::{Database, Durability, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const CACHE_BYTES: usize = 32 << 20;

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
    /// To the writer thread (group commit).
    writes: writer::Queue,
    /// Write transactions committed by the writer (tests, metrics).
    commits: std::sync::atomic::AtomicU64,
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
        let (writes, jobs) = std::sync::mpsc::channel();
        let inner = Arc::new(Inner {
            db: RwLock::new(Some(db)),
            dirty: AtomicBool::new(false),
            volatile: MemoryKv::new(),
            volatile_prefixes: volatile_prefixes.iter().map(|p| (*p).to_owned()).collect(),
            path: path.to_owned(),
            writes,
            commits: Default::default(),
        });
        writer::spawn_writer(Arc::downgrade(&inner), jobs).map_err(|e| err(format!("cannot start the writer: {e}")))?;
        spawn_flusher(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// How many records the file holds, expired ones not yet swept included (tests, metrics).
    pub fn durable_len(&self) -> KvResult<u64> {
        self.read(|t, _| t.len().map_err(err))
    }

    /// How many write transactions the writer has committed: fewer than the writes when callers
    /// came together (group commit).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
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

    /// Runs `f` on `key` atomically, in a write transaction the writer thread shares with the
    /// other writes waiting for it (`writer`), committed without fsync: the flusher makes it
    /// durable within a second. `f` may run twice (the first run undone), so it is `Fn`. Awaiting
    /// the answer never blocks an async worker, whatever the writer waits for.
    async fn write<T: Send + 'static>(
        &self,
        key: &str,
        f: impl Fn(&mut Table<'_>, &str, u64) -> KvResult<T> + Send + 'static,
    ) -> KvResult<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = writer::Pending { key: key.to_owned(), f, out: None, reply };
        self.inner.writes.send(Box::new(job)).map_err(|_| KvError("key-value store: the writer has stopped".into()))?;
        answer.await.map_err(|_| KvError("key-value store: the writer has stopped".into()))?
    }
}
