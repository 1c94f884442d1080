//! The live-room list, served from a snapshot rebuilt at most once a second (and at once after
//! a room opens or closes), so listing never scans the database per request.

use super::rooms::{room_view, RoomView};
use super::{AppResult, Services};
use crate::domain::user::AnchorRef;
use crate::storage::{rooms, users};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct RoomList {
    snap: RwLock<Option<(Instant, Arc<Vec<RoomView>>)>>,
    /// One rebuild at a time; others wait for it and read its result.
    rebuild: tokio::sync::Mutex<()>,
}

const MAX_AGE: Duration = Duration::from_secs(1);

impl RoomList {
    pub fn invalidate(&self) {
        *self.snap.write() = None;
    }

    fn fresh(&self) -> Option<Arc<Vec<RoomView>>> {
        self.snap.read().as_ref().filter(|(at, _)| at.elapsed() < MAX_AGE).map(|(_, v)| v.clone())
    }

    pub async fn get(&self, svc: &Services) -> AppResult<Arc<Vec<RoomView>>> {
        if let Some(v) = self.fresh() {
            return Ok(v);
        }
        let _g = self.rebuild.lock().await;
        if let Some(v) = self.fresh() {
            return Ok(v);
        }
        let live = rooms::live(&svc.b.db).await?;
        let ids: Vec<i64> = live.iter().map(|r| r.anchor_id).collect();
        let anchors: HashMap<i64, AnchorRef> = users::find_many(&svc.b.db, &ids)
            .await?
            .into_iter()
            .map(|u| (u.id, AnchorRef { id: u.id, nickname: u.nickname, avatar: u.avatar }))
            .collect();
        // In a cluster a room's count is its home's: this node may run no actor for the room.
        let counted = match &svc.cluster {
            Some(c) => c.online().await,
            None => HashMap::new(),
        };
        let mut views = Vec::with_capacity(live.len());
        for r in &live {
            let a = anchors.get(&r.anchor_id).cloned().unwrap_or(AnchorRef {
                id: r.anchor_id,
                nickname: String::new(),
                avatar: String::new(),
            });
            let mut v = room_view(svc, r, a);
            if let Some(n) = counted.get(&r.id) {
                v.online = *n;
            }
            super::rooms::decorate_listed(svc, r, &mut v).await?;
            views.push(v);
        }
        let v = Arc::new(views);
        *self.snap.write() = Some((Instant::now(), v.clone()));
        Ok(v)
    }
}
