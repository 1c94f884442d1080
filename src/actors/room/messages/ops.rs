//! Operations: the room's counts for the HTTP side, and the faults tests inject.

use super::super::Room;
use actix::prelude::*;
use serde::{Deserialize, Serialize};

/// Counts of the room, for the HTTP side.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "RoomSnapshot")]
pub struct Snapshot;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomSnapshot {
    pub online: usize,
    pub likes: u64,
    pub last_seq: u64,
    pub sockets: usize,
}

/// Test-only fault: the actor fails, as a bug would, and its supervisor restarts it.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Crash;

/// Test-only fault: the actor is busy for a while, as under a heavy load (it blocks its thread).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Stall {
    pub ms: u64,
}

impl Handler<Snapshot> for Room {
    type Result = MessageResult<Snapshot>;
    fn handle(&mut self, _: Snapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(RoomSnapshot {
            online: self.online(),
            likes: self.likes,
            last_seq: self.history.last_seq(),
            sockets: self.sessions.len(),
        })
    }
}

impl Handler<Crash> for Room {
    type Result = ();
    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        tracing::warn!(room = self.info.id, "injected fault: room actor fails");
        ctx.stop();
    }
}

impl Handler<Stall> for Room {
    type Result = ();
    fn handle(&mut self, msg: Stall, _: &mut Context<Self>) {
        std::thread::sleep(std::time::Duration::from_millis(msg.ms));
    }
}
