//! Durability: each write is its own redb transaction (so each call is atomic) committed with
//! `Durability::None`, which writes no fsync; a background thread makes a durable commit once a
//! second when anything was written, and `close` (graceful shutdown) makes a last one. A crash
//! (not a clean stop) can lose at most the last second of sessions, carts and notices; the file
//! itself stays consistent (redb's commits are copy-on-write). The same thread sweeps expired
//! records out of the file.

use super::record::{now_ms, Record};
use super::{err, Inner, TABLE};
use crate::storage::kv::KvResult;
use redb::{Durability, ReadableTable};
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

/// How often written data is made durable.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often expired keys are removed from the file (reads already ignore them).
const SWEEP_EVERY_FLUSHES: u32 = 30;

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
    pub(super) fn sweep(&self) -> KvResult<usize> {
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

    pub(super) fn close(&self) {
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

/// Durable commits once a second and expired-key sweeps, on a thread of its own so that an
/// fsync never blocks the async runtime; it ends when the store is closed or dropped.
pub(super) fn spawn_flusher(weak: Weak<Inner>) {
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
