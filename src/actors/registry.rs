//! Finds or starts a room's actor. Rooms run under `Supervisor` on a pool of arbiters (one per
//! core by default), spread by room id.

use super::room::{AnchorRef, Room, RoomDeps, RoomGauges, RoomInfo};
use actix::prelude::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

struct Entry {
    addr: Addr<Room>,
    gauges: Arc<RoomGauges>,
}

struct Inner {
    rooms: Mutex<HashMap<i64, Entry>>,
    arbiters: Vec<ArbiterHandle>,
    deps: RoomDeps,
}

#[derive(Clone)]
pub struct RoomRegistry {
    inner: Arc<Inner>,
}

impl RoomRegistry {
    /// Starts `arbiters` arbiter threads (0: one per core). Needs a running actix System.
    pub fn new(deps: RoomDeps, arbiters: usize) -> Self {
        let n =
            if arbiters == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { arbiters };
        let arbiters = (0..n).map(|_| Arbiter::new().handle()).collect();
        Self { inner: Arc::new(Inner { rooms: Mutex::new(HashMap::new()), arbiters, deps }) }
    }

    /// The running actor of a room, if any.
    pub fn get(&self, room_id: i64) -> Option<Addr<Room>> {
        self.inner.rooms.lock().get(&room_id).map(|e| e.addr.clone())
    }

    /// The room's actor, started from `room` (a live row) when not running.
    pub fn get_or_start(&self, room: &crate::storage::entities::rooms::Model, anchor: AnchorRef) -> Addr<Room> {
        let mut map = self.inner.rooms.lock();
        if let Some(e) = map.get(&room.id) {
            if e.addr.connected() {
                return e.addr.clone();
            }
        }
        let info = RoomInfo {
            id: room.id,
            title: room.title.clone(),
            kind: room.kind.clone(),
            anchor,
            started_at: room.started_at,
            slow_mode_s: room.slow_mode_s as i64,
        };
        let gauges = Arc::new(RoomGauges::default());
        let deps = self.inner.deps.clone();
        let g = gauges.clone();
        let arbiter = &self.inner.arbiters[(room.id.unsigned_abs() as usize) % self.inner.arbiters.len()];
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| Room::new(info, deps, g));
        map.insert(room.id, Entry { addr: addr.clone(), gauges });
        addr
    }

    /// Forgets a closed room (its actor stops when the last address is dropped).
    pub fn remove(&self, room_id: i64) -> Option<Addr<Room>> {
        self.inner.rooms.lock().remove(&room_id).map(|e| e.addr)
    }

    /// Distinct users online in a room on this node (0 when not running).
    pub fn online(&self, room_id: i64) -> i64 {
        self.inner.rooms.lock().get(&room_id).map(|e| e.gauges.online.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub fn running(&self) -> usize {
        self.inner.rooms.lock().len()
    }
}
