//! Moderation by the anchor or an admin: mutes, kicks, slow mode, deleted messages, and the
//! room's close.

use super::super::Room;
use crate::actors::hub::close;
use crate::clock::rfc3339;
use crate::domain::events::{ChatDeleted, RoomClosed, SlowModeSet, UserMuted};
use actix::prelude::*;
use serde::{Deserialize, Serialize};

/// Mutes a user's chat until `until_ms`.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Mute {
    pub user_id: i64,
    pub until_ms: i64,
}

/// Lifts a mute.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Unmute {
    pub user_id: i64,
}

/// Closes a user's sockets with 4003 (kick or ban).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Kick {
    pub user_id: i64,
}

/// Sets slow mode (0 turns it off).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct SlowMode {
    pub seconds: i64,
}

/// Removes a chat message; false when there is no such message.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "bool")]
pub struct DeleteMessage {
    pub seq: u64,
}

/// The room closes: viewers get `room_closed` and 4004.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Close;

/// Closes the room here and answers once it has closed. A mirror waits for its home's
/// `room_closed` (so that its viewers get that frame before their 4004) and closes anyway once
/// the given time has passed; any other room closes at once, as with `Close`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct CloseWithin(pub std::time::Duration);

impl Handler<CloseWithin> for Room {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: CloseWithin, ctx: &mut Context<Self>) -> ResponseFuture<()> {
        if !matches!(self.role, crate::actors::room::Role::Mirror(_)) {
            self.handle(Close, ctx);
        }
        if self.closed {
            return Box::pin(async {});
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.on_closed.push(tx);
        ctx.run_later(msg.0, |room, ctx| room.close_here(ctx));
        // Also answered if the actor stops without closing (the sender is dropped).
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<Mute> for Room {
    type Result = ();
    fn handle(&mut self, msg: Mute, _: &mut Context<Self>) {
        self.mutes.insert(msg.user_id, msg.until_ms);
        self.publish(UserMuted { until: rfc3339(msg.until_ms), user_id: msg.user_id }.into());
    }
}

impl Handler<Unmute> for Room {
    type Result = ();
    fn handle(&mut self, msg: Unmute, _: &mut Context<Self>) {
        self.mutes.remove(&msg.user_id);
    }
}

impl Handler<Kick> for Room {
    type Result = ();
    fn handle(&mut self, msg: Kick, _: &mut Context<Self>) {
        self.close_user(msg.user_id, close::KICKED);
        // The user's sockets on the other nodes close too.
        if let crate::actors::room::Role::Home(link) = &self.role {
            link.kicked(self.info.id, msg.user_id);
        }
    }
}

impl Handler<SlowMode> for Room {
    type Result = ();
    fn handle(&mut self, msg: SlowMode, _: &mut Context<Self>) {
        self.info.slow_mode_s = msg.seconds;
        self.publish(SlowModeSet { seconds: msg.seconds }.into());
    }
}

impl Handler<DeleteMessage> for Room {
    type Result = bool;
    fn handle(&mut self, msg: DeleteMessage, _: &mut Context<Self>) -> bool {
        if !self.history.delete_chat(msg.seq) {
            return false;
        }
        self.publish(ChatDeleted { seq: msg.seq }.into());
        true
    }
}

impl Handler<Close> for Room {
    type Result = ();
    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        // A mirror closes when its home's `room_closed` reaches it (`link::Recorded`), or when
        // this node's close closes it; the home alone numbers the event.
        if !matches!(self.role, crate::actors::room::Role::Mirror(_)) {
            self.publish(RoomClosed {}.into());
        }
        self.close_here(ctx);
    }
}

impl Room {
    /// Closes the room on this node: its sockets close with 4004, and the actor stops once the
    /// last address is dropped.
    pub(in crate::actors::room) fn close_here(&mut self, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.closed = true;
        for waiting in self.on_closed.drain(..) {
            let _ = waiting.send(());
        }
        self.gauges.closed.store(true, std::sync::atomic::Ordering::Release);
        crate::metrics::ROOMS.dec();
        // `room_closed` and what came before it reach every socket before its close.
        self.flush();
        for s in self.sessions.values() {
            s.handle.kill.fire(close::ROOM_CLOSED);
        }
        self.sessions.clear();
        self.users.clear();
        self.gauges.online.store(0, std::sync::atomic::Ordering::Relaxed);
        if let super::super::Role::Home(link) = &self.role {
            link.online(self.info.id, 0);
        }
        // Without the timer the actor stops once the last address is dropped.
        if let Some(h) = self.tick.take() {
            ctx.cancel_future(h);
        }
    }
}
