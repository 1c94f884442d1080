//! Users' nicknames as events show them (a gift's sender), from a small in-process cache
//! instead of a `users` read per event.
//!
//! Staleness allowed: none for a rename made through this process (`PATCH /api/me` forgets
//! the entry, and a read that raced the rename is not kept); up to `TTL` for a rename made
//! through another process, since this one cannot hear of it and serves what it read until
//! the entry expires. A nickname is a display name, so a gift frame showing the old one for
//! that long is acceptable; nothing is decided on it.

use crate::storage::users;
use parking_lot::Mutex;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an entry is served before it is read again: the most another node's rename can
/// take to show here.
pub const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most: the active gifters of one node fit many times over.
pub const CAPACITY: usize = 10_000;

pub struct Nicknames {
    db: DatabaseConnection,
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Nickname and when it was read, by user id.
    by_user: HashMap<i64, (String, Instant)>,
    /// Counts `forget` calls: a read that saw this change while it was out may hold a name
    /// from before a rename, so it is answered but not kept.
    forgets: u64,
}

impl Nicknames {
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_limits(db, TTL, CAPACITY)
    }

    pub fn with_limits(db: DatabaseConnection, ttl: Duration, capacity: usize) -> Self {
        Self { db, ttl, capacity: capacity.max(1), inner: Mutex::new(Inner::default()) }
    }

    /// The user's nickname; None when there is no such user.
    pub async fn get(&self, user_id: i64) -> Result<Option<String>, DbErr> {
        let seen = {
            let g = self.inner.lock();
            if let Some(name) = self.fresh(&g, user_id, Instant::now()) {
                return Ok(Some(name));
            }
            g.forgets
        };
        let Some(u) = users::find(&self.db, user_id).await? else {
            return Ok(None);
        };
        self.keep(user_id, &u.nickname, seen, Instant::now());
        Ok(Some(u.nickname))
    }

    /// The user's profile changed: the next `get` reads it again.
    pub fn forget(&self, user_id: i64) {
        let mut g = self.inner.lock();
        g.forgets += 1;
        g.by_user.remove(&user_id);
    }

    /// The kept name, if it was read less than `ttl` before `now`.
    fn fresh(&self, g: &Inner, user_id: i64, now: Instant) -> Option<String> {
        let (name, at) = g.by_user.get(&user_id)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| name.clone())
    }

    /// Keeps a name read at `at`, unless a `forget` ran since the read began (`seen`). When
    /// full, expired entries go first, then any one.
    fn keep(&self, user_id: i64, name: &str, seen: u64, at: Instant) {
        let mut g = self.inner.lock();
        if g.forgets != seen {
            return;
        }
        if g.by_user.len() >= self.capacity && !g.by_user.contains_key(&user_id) {
            let ttl = self.ttl;
            g.by_user.retain(|_, (_, t)| at.saturating_duration_since(*t) < ttl);
            if g.by_user.len() >= self.capacity {
                if let Some(k) = g.by_user.keys().next().copied() {
                    g.by_user.remove(&k);
                }
            }
        }
        g.by_user.insert(user_id, (name.to_owned(), at));
    }

    #[cfg(test)]
    fn cached(&self, user_id: i64) -> Option<String> {
        self.inner.lock().by_user.get(&user_id).map(|(n, _)| n.clone())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().by_user.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cache(ttl: Duration, capacity: usize) -> Nicknames {
        Nicknames::with_limits(DatabaseConnection::Disconnected, ttl, capacity)
    }

    #[tokio::test]
    async fn a_kept_name_is_served_without_the_database_until_it_expires() {
        let c = cache(TTL, 10);
        let at = Instant::now();
        c.keep(1, "Ada", 0, at);
        // The connection is disconnected (a query would panic): the answer is the cache's.
        assert_eq!(c.get(1).await.unwrap().as_deref(), Some("Ada"));
        let g = c.inner.lock();
        assert_eq!(c.fresh(&g, 1, at + TTL / 2).as_deref(), Some("Ada"));
        assert_eq!(c.fresh(&g, 1, at + TTL), None, "an expired entry is read again");
    }

    #[test]
    fn a_read_that_raced_a_rename_is_not_kept() {
        let c = cache(TTL, 10);
        let seen = c.inner.lock().forgets;
        c.forget(1); // the rename lands while the read is out
        c.keep(1, "Old name", seen, Instant::now());
        assert_eq!(c.cached(1), None);
        let seen = c.inner.lock().forgets;
        c.keep(1, "New name", seen, Instant::now());
        assert_eq!(c.cached(1).as_deref(), Some("New name"));
        c.forget(1);
        assert_eq!(c.cached(1), None, "a rename forgets the entry");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity_and_drops_expired_entries_first() {
        let ttl = Duration::from_secs(30);
        let c = cache(ttl, 3);
        c.keep(1, "expired", 0, Instant::now());
        let now = Instant::now() + ttl * 2;
        c.keep(2, "b", 0, now);
        c.keep(3, "c", 0, now);
        c.keep(4, "d", 0, now);
        assert_eq!(c.len(), 3);
        assert_eq!(c.cached(1), None, "the expired entry made room");
        for id in 5..100 {
            c.keep(id, "x", 0, now);
            assert!(c.len() <= 3);
        }
        assert_eq!(c.cached(99).as_deref(), Some("x"));
    }
}
