//! Reads shared by the requests that wait for them. A request asks for a row "as the database
//! has it now"; a read that started after the request came answers that exactly (the row as it
//! was at a moment during the request), so every request that came while a read was in flight
//! is answered by the next one: at most one read of a row is in flight on this node, however
//! many ask. A flash sale's ten thousand buyers make a few hundred reads of the product, not ten
//! thousand, and never see a row older than their own request.

use futures_util::future::{BoxFuture, FutureExt, Shared};
use parking_lot::Mutex;
use sea_orm::DbErr;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Reading<V> = Shared<BoxFuture<'static, Result<V, ReadFailed>>>;

struct Slot<V> {
    /// The newest value read, and when its read started.
    latest: Option<(u64, V)>,
    /// The read in flight, and when it started.
    reading: Option<(u64, Reading<V>)>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self { latest: None, reading: None }
    }
}

/// A shared read that failed; its cause is the database's error (so an outage answers 503).
#[derive(Debug, Clone)]
pub struct ReadFailed(pub Arc<DbErr>);

impl std::fmt::Display for ReadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shared read failed")
    }
}

impl std::error::Error for ReadFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl From<ReadFailed> for super::AppError {
    fn from(e: ReadFailed) -> Self {
        Self::from(anyhow::Error::new(e))
    }
}

/// Shared reads of rows of one kind, by id.
pub struct Fresh<V> {
    /// Orders "a request asked" against "a read started".
    clock: AtomicU64,
    slots: Mutex<HashMap<i64, Slot<V>>>,
}

impl<V> Default for Fresh<V> {
    fn default() -> Self {
        Self { clock: AtomicU64::new(0), slots: Mutex::new(HashMap::new()) }
    }
}

impl<V: Clone + Send + Sync + 'static> Fresh<V> {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Row `id` as read by a read that started after this call; `read` reads it (called at most
    /// once per read this call starts).
    pub async fn get<F>(&self, id: i64, read: impl Fn() -> F) -> Result<V, ReadFailed>
    where
        F: Future<Output = Result<V, DbErr>> + Send + 'static,
    {
        let asked = self.tick();
        loop {
            let (stamp, reading) = {
                let mut slots = self.slots.lock();
                if slots.len() >= 4096 {
                    slots.retain(|_, s| s.reading.is_some()); // rows nobody is reading now
                }
                let slot = slots.entry(id).or_default();
                if let Some((at, v)) = &slot.latest {
                    if *at > asked {
                        return Ok(v.clone());
                    }
                }
                match &slot.reading {
                    Some((at, r)) => (*at, r.clone()),
                    None => {
                        let at = self.tick();
                        let r = read().map(|r| r.map_err(|e| ReadFailed(Arc::new(e)))).boxed().shared();
                        slot.reading = Some((at, r.clone()));
                        (at, r)
                    }
                }
            };
            let res = reading.await;
            {
                let mut slots = self.slots.lock();
                let slot = slots.entry(id).or_default();
                if slot.reading.as_ref().is_some_and(|(at, _)| *at == stamp) {
                    slot.reading = None;
                    if let Ok(v) = &res {
                        if slot.latest.as_ref().is_none_or(|(at, _)| *at < stamp) {
                            slot.latest = Some((stamp, v.clone()));
                        }
                    }
                }
            }
            if stamp > asked {
                return res;
            }
            // That read started before this request came: wait for the next.
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;
    use std::time::Duration;

    #[tokio::test]
    async fn requests_that_come_during_a_read_share_the_next_one_and_never_see_an_older_row() {
        let fresh = Arc::new(Fresh::<i64>::default());
        let row = Arc::new(AtomicI64::new(0));
        let reads = Arc::new(AtomicI64::new(0));
        let read = {
            let (row, reads) = (row.clone(), reads.clone());
            move || {
                let (row, reads) = (row.clone(), reads.clone());
                async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    let v = row.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(v)
                }
            }
        };
        // The row changes to 1 while a read that saw 0 is in flight: a request asking after the
        // change must not get that 0.
        let first = tokio::spawn({
            let (fresh, read) = (fresh.clone(), read.clone());
            async move { fresh.get(1, read).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        row.store(1, Ordering::SeqCst);
        let later: Vec<_> = (0..50)
            .map(|_| {
                let (fresh, read) = (fresh.clone(), read.clone());
                tokio::spawn(async move { fresh.get(1, read).await.unwrap() })
            })
            .collect();
        assert_eq!(first.await.unwrap(), 0);
        for l in later {
            assert_eq!(l.await.unwrap(), 1, "a row read before the request came");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "the fifty shared one read");
    }

    #[tokio::test]
    async fn a_failed_read_is_not_remembered() {
        let fresh = Fresh::<i64>::default();
        let err = fresh.get(1, || async { Err(DbErr::Custom("down".into())) }).await;
        assert!(err.is_err());
        assert_eq!(fresh.get(1, || async { Ok(7) }).await.unwrap(), 7);
    }
}
