//! Segment id generator (as in the system being replaced): each process takes a range of ids
//! per business key from `id_segments` with an optimistic-lock update, hands ids out from
//! memory, and fetches the next range in the background when a quarter of the current is left.

use crate::storage::entities::id_segments as seg;
use parking_lot::Mutex;
use sea_orm::{sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// Ids `[next, end)` of one taken segment.
#[derive(Debug, Clone, Copy)]
struct Range {
    next: i64,
    end: i64,
    len: i64,
}

#[derive(Default)]
struct Series {
    current: Option<Range>,
    /// The range fetched ahead of need.
    spare: Option<Range>,
    fetching: bool,
}

struct Inner {
    db: DatabaseConnection,
    step: i64,
    series: Mutex<HashMap<String, Series>>,
    /// Woken when a background fetch lands.
    landed: Notify,
}

#[derive(Clone)]
pub struct IdGen {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("id segment storage: {0}")]
    Db(#[from] DbErr),
    #[error("id segment for {0} stayed contended after many retries")]
    Contended(String),
}

impl IdGen {
    /// `step` is how many ids one database round trip buys.
    pub fn new(db: DatabaseConnection, step: i64) -> Self {
        Self {
            inner: Arc::new(Inner { db, step: step.max(1), series: Mutex::new(HashMap::new()), landed: Notify::new() }),
        }
    }

    /// The next id of `biz`: unique across every process on the database, increasing within a
    /// process's segment.
    pub async fn next(&self, biz: &str) -> Result<i64, IdError> {
        loop {
            let mut need_fetch = false;
            let waiter;
            {
                let mut map = self.inner.series.lock();
                let s = map.entry(biz.to_owned()).or_default();
                if s.current.is_none_or(|r| r.next >= r.end) {
                    s.current = s.spare.take();
                }
                if let Some(r) = s.current.as_mut() {
                    if r.next < r.end {
                        let id = r.next;
                        r.next += 1;
                        let left = r.end - r.next;
                        if left * 4 <= r.len && s.spare.is_none() && !s.fetching {
                            s.fetching = true;
                            let this = self.clone();
                            let biz = biz.to_owned();
                            tokio::spawn(async move { this.fetch_in_background(&biz).await });
                        }
                        return Ok(id);
                    }
                }
                // Nothing in hand: fetch ourselves unless a fetch is under way.
                if !s.fetching {
                    s.fetching = true;
                    need_fetch = true;
                }
                waiter = self.inner.landed.notified();
            }
            if need_fetch {
                self.fetch(biz).await?;
            } else {
                waiter.await;
            }
        }
    }

    async fn fetch_in_background(&self, biz: &str) {
        if let Err(e) = self.fetch(biz).await {
            tracing::warn!(biz, error = %e, "background id segment fetch failed; will fetch on demand");
        }
    }

    /// Takes the next segment as the spare, then wakes whoever waits for one (on failure too,
    /// so they can try themselves).
    async fn fetch(&self, biz: &str) -> Result<(), IdError> {
        let got = take_segment(&self.inner.db, biz, self.inner.step).await;
        {
            let mut map = self.inner.series.lock();
            let s = map.entry(biz.to_owned()).or_default();
            s.fetching = false;
            if let Ok(r) = &got {
                s.spare = Some(*r);
            }
        }
        self.inner.landed.notify_waiters();
        got.map(|_| ())
    }
}

/// Takes the next `step` ids of `biz` with an optimistic-lock update, creating the series on
/// first use.
async fn take_segment(db: &DatabaseConnection, biz: &str, step: i64) -> Result<Range, IdError> {
    for attempt in 0..100 {
        let row = seg::Entity::find_by_id(biz.to_owned()).one(db).await?;
        let Some(row) = row else {
            let ins = seg::Entity::insert(seg::ActiveModel {
                biz: Set(biz.to_owned()),
                max_id: Set(0),
                step: Set(step),
                version: Set(0),
            })
            .exec(db)
            .await;
            if let Err(e) = ins {
                // Another process created it first: fine, read it again.
                tracing::debug!(biz, error = %e, "id series insert raced");
            }
            continue;
        };
        let res = seg::Entity::update_many()
            .col_expr(seg::Column::MaxId, Expr::value(row.max_id + step))
            .col_expr(seg::Column::Version, Expr::value(row.version + 1))
            .filter(seg::Column::Biz.eq(biz))
            .filter(seg::Column::Version.eq(row.version))
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            return Ok(Range { next: row.max_id + 1, end: row.max_id + step + 1, len: step });
        }
        // Lost the race: back off a little, more each time.
        tokio::time::sleep(std::time::Duration::from_micros(200 * (attempt + 1))).await;
    }
    Err(IdError::Contended(biz.to_owned()))
}
