//! Finds or starts a room's actor. Rooms run under `Supervisor` on a pool of arbiters (one per
//! core by default), spread by room id; a room's PK and rain actors run on its arbiter too. A supervisor restarts an actor that stops; an actor that
//! dies (a panic in a handler drops it with its mailbox) is noticed here, forgotten, and started
//! again by the next caller that needs it, so no caller is handed a dead address.

use super::room::{AnchorRef, Room, RoomDeps, RoomGauges, RoomInfo};
use actix::prelude::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

struct Entry {
    addr: Addr<Room>,
    gauges: Arc<RoomGauges>,
    /// The room's anchor, fixed for the room's life: a gift to a running room needs no row.
    anchor_id: i64,
    /// The row was read live after this actor started (`confirm_live`). Until then `live`
    /// does not hand the actor out: the row it was started from may have been read before a
    /// close that has already answered.
    confirmed: bool,
}

/// A running room that is not closing: its actor and its anchor, known without a SQL read.
#[derive(Clone)]
pub struct RunningRoom {
    pub addr: Addr<Room>,
    pub anchor_id: i64,
}

struct Inner {
    rooms: Mutex<HashMap<i64, Entry>>,
    arbiters: Vec<ArbiterHandle>,
    sockets: Vec<ArbiterHandle>,
    deps: RoomDeps,
}

#[derive(Clone)]
pub struct RoomRegistry {
    inner: Arc<Inner>,
}

impl RoomRegistry {
    /// Starts `arbiters` arbiter threads for rooms and as many for their sockets (0: one each
    /// per core). Needs a running actix System.
    pub fn new(deps: RoomDeps, arbiters: usize) -> Self {
        let n =
            if arbiters == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { arbiters };
        let arbiters: Vec<ArbiterHandle> = (0..n).map(|_| Arbiter::new().handle()).collect();
        let sockets = (0..n).map(|_| Arbiter::new().handle()).collect();
        Self { inner: Arc::new(Inner { rooms: Mutex::new(HashMap::new()), arbiters, sockets, deps }) }
    }

    /// The arbiter a room's actors run on: its room actor, and the PK and rain beside it, so
    /// the messages between them stay on one thread. Fixed by the room's id.
    pub fn arbiter(&self, room_id: i64) -> ArbiterHandle {
        self.inner.arbiters[(room_id.unsigned_abs() as usize) % self.inner.arbiters.len()].clone()
    }

    /// The arbiter a room's sockets run on: a pool apart from the rooms'. Beside its room, a
    /// room with 10,000 sockets read its next chat only after all of their writes had had their
    /// turn on the thread; apart, the kernel runs the room as soon as a chat wakes it (fan-out
    /// p50 1.85× the bare relay's → 1.3×, with the server on one core). The price is a wake-up
    /// across threads per socket and batch.
    pub fn socket_arbiter(&self, room_id: i64) -> ArbiterHandle {
        self.inner.sockets[(room_id.unsigned_abs() as usize) % self.inner.sockets.len()].clone()
    }

    /// The running actor of a room, if any. A dead one is forgotten (and not handed out).
    pub fn get(&self, room_id: i64) -> Option<Addr<Room>> {
        let mut map = self.inner.rooms.lock();
        match map.get(&room_id) {
            Some(e) if e.addr.connected() => Some(e.addr.clone()),
            Some(_) => {
                tracing::warn!(room = room_id, "room actor died; it starts again when next needed");
                map.remove(&room_id);
                None
            }
            None => None,
        }
    }

    /// The running actor of a room and its anchor, unless the room's close has begun (see
    /// `closing`) or no live actor runs here; the caller then reads the row (`live_room`).
    /// A close marks the room right after closing its row and before it answers, so a room
    /// handed out here is one whose close (if any) has not answered yet: whoever acts on it is
    /// ordered before that close, as a caller that read the row live just before it was.
    pub fn live(&self, room_id: i64) -> Option<RunningRoom> {
        let map = self.inner.rooms.lock();
        let e = map.get(&room_id)?;
        // A dead actor is left for `get` (via `room_actor`) to forget and start again; an
        // unconfirmed one for its starter to confirm or close.
        if !e.confirmed || !e.addr.connected() || e.gauges.closed.load(Ordering::Acquire) {
            return None;
        }
        Some(RunningRoom { addr: e.addr.clone(), anchor_id: e.anchor_id })
    }

    /// A close has closed the room's row: from now on `live` no longer hands the room out,
    /// though its actor runs on while the close ends its PK and rain (the viewers hear those)
    /// and then closes it. Called right after the row is closed, never before (a close whose
    /// row write failed leaves the room live). Idempotent.
    pub fn closing(&self, room_id: i64) {
        if let Some(e) = self.inner.rooms.lock().get(&room_id) {
            e.gauges.closed.store(true, Ordering::Release);
        }
    }

    /// The room's actor, started from `room` (a live row) when not running or dead. The flag
    /// says whether this call started it (the caller then checks the room is still live).
    /// `role`: the actor's place in a cluster (`Role::Single` on one node); used only when it
    /// starts.
    pub fn get_or_start(
        &self,
        room: &crate::storage::entities::rooms::Model,
        anchor: AnchorRef,
        role: super::room::Role,
    ) -> (Addr<Room>, bool) {
        let mut map = self.inner.rooms.lock();
        if let Some(e) = map.get(&room.id) {
            if e.addr.connected() {
                return (e.addr.clone(), false);
            }
            tracing::warn!(room = room.id, "room actor died; starting it again");
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
        let addr =
            Supervisor::start_in_arbiter(&self.arbiter(room.id), move |_| Room::new(info, deps, g).with_role(role));
        map.insert(room.id, Entry { addr: addr.clone(), gauges, anchor_id: room.anchor_id, confirmed: false });
        (addr, true)
    }

    /// The caller that started `addr` (`get_or_start`) read the room's row live after the
    /// start: from now on `live` may hand the actor out (unless the room is closing).
    pub fn confirm_live(&self, room_id: i64, addr: &Addr<Room>) {
        if let Some(e) = self.inner.rooms.lock().get_mut(&room_id).filter(|e| e.addr == *addr) {
            e.confirmed = true;
        }
    }

    /// Forgets a closed room (its actor stops when the last address is dropped).
    pub fn remove(&self, room_id: i64) -> Option<Addr<Room>> {
        self.inner.rooms.lock().remove(&room_id).map(|e| e.addr)
    }

    /// Forgets a closed room and closes its actor (viewers get `room_closed`). Idempotent.
    pub async fn close(&self, room_id: i64) {
        if let Some(addr) = self.remove(room_id) {
            let _ = addr.send(super::room::Close).await;
        }
    }

    /// Distinct users online in a room on this node (0 when not running).
    pub fn online(&self, room_id: i64) -> i64 {
        self.inner
            .rooms
            .lock()
            .get(&room_id)
            .filter(|e| e.addr.connected())
            .map(|e| e.gauges.online.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// The rooms whose actors run here, with their addresses.
    pub fn all(&self) -> Vec<(i64, Addr<Room>)> {
        self.inner.rooms.lock().iter().map(|(id, e)| (*id, e.addr.clone())).collect()
    }

    pub fn running(&self) -> usize {
        self.inner.rooms.lock().len()
    }
}

/// Test-only fault: the room actor panics, as a bug in a handler would. Unlike `room::Crash`
/// (a stop, which its supervisor survives), the panic drops the actor and its mailbox: the
/// address goes dead. Nothing in the app sends it; tests use it to show the registry recovers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectedPanic;

impl Handler<InjectedPanic> for Room {
    type Result = ();
    #[allow(clippy::panic)]
    fn handle(&mut self, _: InjectedPanic, _: &mut Context<Self>) {
        panic!("injected fault: room actor panics");
    }
}
