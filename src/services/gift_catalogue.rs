//! The gift catalogue, read from its table once per process and then served from memory: to
//! `GET /api/gifts` and to every gift sent.
//!
//! Only a migration changes the table (no endpoint edits gifts), and migrations run before a
//! process serves, so a process's first read stays true for its life. A node still running
//! older code during a rolling deploy keeps the catalogue it started with until it restarts,
//! which is what it would do with the code anyway. An admin action that edits gifts, if one is
//! ever added, needs this to forget what it read.

use crate::storage::entities::gifts::Model as Gift;
use crate::storage::gifts as catalog;
use parking_lot::RwLock;
use sea_orm::{DatabaseConnection, DbErr};
use std::sync::Arc;

pub struct GiftCatalogue {
    db: DatabaseConnection,
    /// Every gift, cheapest first; None until first read. A failed read leaves it None, so the
    /// next caller tries again.
    loaded: RwLock<Option<Arc<[Gift]>>>,
}

impl GiftCatalogue {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, loaded: RwLock::new(None) }
    }

    /// Every gift, cheapest first.
    pub async fn all(&self) -> Result<Arc<[Gift]>, DbErr> {
        if let Some(v) = self.loaded.read().clone() {
            return Ok(v);
        }
        // Concurrent first callers may each read the table once; they read the same rows.
        let v: Arc<[Gift]> = catalog::catalogue(&self.db).await?.into();
        *self.loaded.write() = Some(v.clone());
        Ok(v)
    }

    /// The gift with `id`, if the catalogue has one.
    pub async fn find(&self, id: i64) -> Result<Option<Gift>, DbErr> {
        Ok(self.all().await?.iter().find(|g| g.id == id).cloned())
    }
}
