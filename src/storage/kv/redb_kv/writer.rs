//! Group commit: every write goes to one writer thread, which runs all the writes waiting for it
//! in one redb write transaction and commits once. redb takes one write transaction at a time,
//! so with a transaction per call the callers queued on its lock (and on the blocking pool) one
//! commit each; now a crowd of callers (a red-packet rain storing a notice per grab) shares
//! commits, and one caller alone still gets its own at once.
//!
//! Each call stays atomic and isolated: the writes of a batch run one after another in the
//! transaction, each seeing the ones before it, exactly as if committed one by one in that order.
//! When one of them fails (a storage error: the operations have no other kind), the transaction
//! is dropped, which undoes the whole batch, and each write is run again in a transaction of its
//! own, so that one failure is answered to its caller alone.

use super::{err, Inner, Table, TABLE};
use crate::storage::kv::{KvError, KvResult};
use redb::Durability;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Weak;

/// At most this many writes share one transaction (a bound on how long the first of them waits
/// for the rest to run).
const MAX_BATCH: usize = 256;

/// One caller's write: run (possibly twice: see the module doc) and answer once.
pub(super) trait Job: Send {
    /// Applies the write to the open transaction's table and keeps its result.
    fn run(&mut self, table: &mut Table<'_>, now: u64) -> KvResult<()>;
    /// Answers the caller: with the kept result once committed, else with `failed`.
    fn answer(self: Box<Self>, failed: Option<KvError>);
}

/// A write and where its answer goes.
pub(super) struct Pending<T, F> {
    pub(super) key: String,
    pub(super) f: F,
    pub(super) out: Option<T>,
    pub(super) reply: tokio::sync::oneshot::Sender<KvResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: Fn(&mut Table<'_>, &str, u64) -> KvResult<T> + Send + 'static,
{
    fn run(&mut self, table: &mut Table<'_>, now: u64) -> KvResult<()> {
        self.out = Some((self.f)(table, &self.key, now)?);
        Ok(())
    }

    fn answer(self: Box<Self>, failed: Option<KvError>) {
        let result = match (failed, self.out) {
            (Some(e), _) => Err(e),
            (None, Some(v)) => Ok(v),
            (None, None) => Err(KvError("redb: write did not run".into())),
        };
        // The caller may have gone (its request was cancelled); the write stands either way.
        let _ = self.reply.send(result);
    }
}

pub(super) type Queue = Sender<Box<dyn Job>>;

/// Starts the writer thread; it ends when every sender is gone (the store was dropped).
pub(super) fn spawn_writer(weak: Weak<Inner>, jobs: Receiver<Box<dyn Job>>) -> std::io::Result<()> {
    std::thread::Builder::new().name("kv-write".into()).spawn(move || {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            match weak.upgrade() {
                Some(inner) => inner.commit_batch(batch),
                None => batch.into_iter().for_each(|j| j.answer(Some(closed()))),
            }
        }
    })?;
    Ok(())
}

fn closed() -> KvError {
    KvError("key-value store is closed".into())
}

impl Inner {
    fn commit_batch(&self, mut batch: Vec<Box<dyn Job>>) {
        let now = super::record::now_ms();
        match self.run_in_one(&mut batch, now) {
            Ok(()) => batch.into_iter().for_each(|j| j.answer(None)),
            Err(e) if batch.len() == 1 => batch.into_iter().for_each(|j| j.answer(Some(e.clone()))),
            Err(e) => {
                tracing::warn!(error = %e, writes = batch.len(), "key-value store: a batch failed; writing its calls one by one");
                for mut job in batch {
                    let failed = self.run_in_one(std::slice::from_mut(&mut job), now).err();
                    job.answer(failed);
                }
            }
        }
    }

    /// Runs `jobs` in one write transaction, committed without fsync (the flusher makes it
    /// durable within a second); nothing of it stays when any of them fails.
    fn run_in_one(&self, jobs: &mut [Box<dyn Job>], now: u64) -> KvResult<()> {
        let guard = self.db.read();
        let db = guard.as_ref().ok_or_else(closed)?;
        let mut tx = db.begin_write().map_err(err)?;
        tx.set_durability(Durability::None);
        {
            let mut table = tx.open_table(TABLE).map_err(err)?;
            for job in jobs.iter_mut() {
                job.run(&mut table, now)?;
            }
        }
        tx.commit().map_err(err)?;
        self.dirty.store(true, Ordering::Release);
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
