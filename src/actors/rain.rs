//! The rain actor, beside a room: hands out a running rain's packets one grab at a time, so
//! each packet goes to exactly one grab without locks. The database has the final word: a grab
//! is credited in one transaction with its packet's claim.

use actix::prelude::*;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub const END_JOB: &str = "rain_end";

pub struct RainActor {
    pub rain_id: i64,
    /// Packets not handed out yet: `(id, amount)`.
    packets: VecDeque<(i64, i64)>,
    open: bool,
}

impl Actor for RainActor {
    type Context = Context<Self>;
}

/// The rain actor runs under a `Supervisor` on its room's arbiter. actix keeps the same instance
/// across a restart and the actor has no timers or futures, so a restart loses nothing: the
/// packets not handed out stay, in order.
///
/// A closed rain is never stopped on purpose, so it is not restarted: its packets went back to
/// the anchor and nothing can hand them out again. It answers grabs as an ended rain until its
/// last address is dropped, then stops for good.
impl actix::Supervised for RainActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        if self.open {
            tracing::warn!(rain = self.rain_id, left = self.packets.len(), "rain actor restarting");
        }
    }
}

/// The rain was closed: no grab gets a packet any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// A grab: the next packet, None when none is left, or `Closed` once the rain ended.
#[derive(Message)]
#[rtype(result = "Result<Option<(i64, i64)>, Closed>")]
pub struct Grab;

/// A grab whose credit failed: its packet may be handed out again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct GiveBack(pub i64, pub i64);

/// How many packets are left.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Left;

/// No more grabs; the actor stops once its last address is dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close;

impl Handler<Grab> for RainActor {
    type Result = Result<Option<(i64, i64)>, Closed>;
    fn handle(&mut self, _: Grab, _: &mut Context<Self>) -> Self::Result {
        crate::metrics::COMMANDS.with_label_values(&["grab"]).inc();
        if self.open {
            Ok(self.packets.pop_front())
        } else {
            Err(Closed)
        }
    }
}

impl Handler<GiveBack> for RainActor {
    type Result = ();
    fn handle(&mut self, msg: GiveBack, _: &mut Context<Self>) {
        if self.open {
            self.packets.push_back((msg.0, msg.1));
        }
    }
}

impl Handler<Left> for RainActor {
    type Result = usize;
    fn handle(&mut self, _: Left, _: &mut Context<Self>) -> usize {
        self.packets.len()
    }
}

impl Handler<Close> for RainActor {
    type Result = ();
    fn handle(&mut self, _: Close, _: &mut Context<Self>) {
        // Not `ctx.stop()`: its supervisor would restart it while someone still holds its
        // address. Forgotten by `RainService`, it stops once the last address is dropped.
        self.open = false;
        self.packets.clear();
    }
}

/// A running rain's id and its actor.
type Running = (i64, Addr<RainActor>);

/// Running rains by room id, with the rain each actor hands out.
#[derive(Clone, Default)]
pub struct RainService {
    running: Arc<Mutex<HashMap<i64, Running>>>,
}

impl RainService {
    pub fn get(&self, room_id: i64) -> Option<Addr<RainActor>> {
        self.running.lock().get(&room_id).map(|(_, a)| a.clone())
    }

    /// Starts the actor of a running rain, supervised, on `arbiter` (the room's: see
    /// `RoomRegistry::arbiter`).
    pub fn start(
        &self,
        arbiter: &ArbiterHandle,
        room_id: i64,
        rain_id: i64,
        packets: Vec<(i64, i64)>,
    ) -> Addr<RainActor> {
        let actor = RainActor { rain_id, packets: packets.into(), open: true };
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| actor);
        self.running.lock().insert(room_id, (rain_id, addr.clone()));
        addr
    }

    /// Forgets the room's actor if it hands out `rain_id` (not another rain of the room).
    pub fn remove(&self, room_id: i64, rain_id: i64) -> Option<Addr<RainActor>> {
        let mut running = self.running.lock();
        match running.get(&room_id) {
            Some((id, _)) if *id == rain_id => running.remove(&room_id).map(|(_, a)| a),
            _ => None,
        }
    }
}
