//! A room across several nodes (`cluster.enabled`). Each live room has one home (chosen by the
//! cluster, `services::cluster`): the home's actor is the only one that numbers events, and it
//! sends each one, encoded once, to the other nodes. Every other node with viewers of the room
//! runs a mirror actor: its sockets join it as on one node, it replays the home's frames to them
//! (keeping the same history, so `resume` works on any node), and whatever would be recorded
//! there (a chat, a gift's banner raised on that node, a moderation event) goes to the home to
//! be numbered instead. One node alone is `Role::Single`: exactly the one-process behaviour.
//!
//! The actor knows the cluster only through [`RoomLink`], which the services layer implements
//! over the bus, so dependencies keep pointing one way.

use super::{messages::Refusal, Room};
use crate::domain::events::{ChatLine, RoomEvent};
use crate::domain::user::UserRef;
use actix::prelude::*;
use bytestring::ByteString;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a room's actor asks of the cluster.
pub trait RoomLink: Send + Sync + 'static {
    /// Home: event `seq` was recorded (its frame, and its chat line when it is a chat): send it
    /// to the nodes that mirror the room, in the order recorded.
    fn recorded(&self, room: i64, seq: u64, frame: &ByteString, chat: Option<&ChatLine>);
    /// Mirror: a viewer's chat, checked and recorded by the home; the home's answer.
    fn chat(&self, room: i64, user: UserRef, text: String) -> BoxFuture<'static, Result<(), Refusal>>;
    /// Mirror: a gift paid for on this node, for the home to count and record.
    fn gift(&self, room: i64, gift: super::GiftEffect);
    /// Mirror: an event raised on this node, for the home to record.
    fn record(&self, room: i64, event: RoomEvent, chat: Option<ChatLine>);
    /// Mirror: starts receiving the home's frames, then asks where the home stands, so that
    /// no frame falls between the two (frames up to the answer's `last_seq` are skipped).
    fn follow(&self, room: i64) -> BoxFuture<'static, Option<HomeState>>;
    /// Mirror: stops receiving the room's frames (the actor stopped).
    fn unfollow(&self, room: i64);
    /// Home starting: the last seq the room's previous home stored (0: none), to number on from.
    fn numbered_from(&self, room: i64) -> BoxFuture<'static, u64>;
    /// Home: an un-numbered snapshot (`online`, `likes`) for the mirrors' viewers.
    fn snapshot(&self, room: i64, frame: &ByteString);
    /// Mirror: its distinct viewers, and the likes it received and who entered since it last
    /// said, for the home.
    fn counts(&self, room: i64, online: usize, likes: u64, entered: super::Entered);
    /// Home: the room's viewers on every node, for the room lists of nodes without an actor for
    /// it (0: the room closed).
    fn online(&self, room: i64, count: usize);
    /// Home: `user` was kicked; the mirrors close the user's sockets too.
    fn kicked(&self, room: i64, user: i64);
    /// Home: tells the mirrors that events up to `seq` may be missing (a home taking over);
    /// they and their viewers start again from there (`resync`).
    fn resynced(&self, room: i64, seq: u64);
}

/// Whether this actor numbers the room's events.
#[derive(Clone, Default)]
pub enum Role {
    /// One node: the actor numbers and sends to its own sockets only.
    #[default]
    Single,
    /// The room's home in a cluster: numbers, and sends to the mirrors too.
    Home(Arc<dyn RoomLink>),
    /// Another node with viewers: replays the home's frames.
    Mirror(Arc<dyn RoomLink>),
}

/// Where the home stands, for a mirror starting: the last seq, the recent chats `welcome`
/// lists, the likes, the PK.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct HomeState {
    pub last_seq: u64,
    pub recent: Vec<(u64, ChatLine)>,
    pub likes: u64,
    /// The PK the home shows (a mirror starting in the middle of one shows it too).
    #[serde(default)]
    pub pk: Option<crate::domain::pk::PkView>,
}

/// Home: where the room stands, for a mirror.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "HomeState")]
pub struct TakeState;

/// Home: a chat sent on another node, by `user`.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct ChatAs {
    pub user: UserRef,
    pub text: String,
}

/// Home: an event raised on another node.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct RecordFor {
    pub event: RoomEvent,
    pub chat: Option<ChatLine>,
}

/// Mirror: a frame the home recorded.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Recorded {
    pub seq: u64,
    /// The lease epoch of the home that numbered it.
    pub epoch: u64,
    pub frame: ByteString,
    pub chat: Option<ChatLine>,
    /// A `resync` from a home that took the room over: the history starts again at `seq`.
    pub resync: bool,
}

/// Home: a mirror's viewers and the likes it received (`RoomLink::counts`).
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct Counts {
    pub node: String,
    pub online: usize,
    pub likes: u64,
    #[serde(default)]
    pub entered: super::Entered,
}

/// Home: these are the live nodes; viewers counted on any other are gone with it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct LiveNodes(pub Vec<String>);

/// Mirror: an un-numbered snapshot from the home (`online`, `likes`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Unnumbered {
    pub frame: ByteString,
}

impl Handler<Counts> for Room {
    type Result = ();
    fn handle(&mut self, msg: Counts, _: &mut Context<Self>) {
        if msg.likes > 0 {
            self.likes += msg.likes;
            self.likes_dirty = true;
        }
        self.entered.merge(msg.entered);
        if self.remote_online.insert(msg.node, msg.online) != Some(msg.online) {
            self.online_changed();
        }
    }
}

impl Handler<LiveNodes> for Room {
    type Result = ();
    fn handle(&mut self, msg: LiveNodes, _: &mut Context<Self>) {
        let before = self.remote_online.len();
        self.remote_online.retain(|node, _| msg.0.contains(node));
        if self.remote_online.len() != before {
            self.online_changed();
        }
    }
}

impl Handler<Unnumbered> for Room {
    type Result = ();
    fn handle(&mut self, msg: Unnumbered, _: &mut Context<Self>) {
        let data = || serde_json::from_str::<StateFrame>(&msg.frame).ok().map(|f| f.data);
        if msg.frame.starts_with(r#"{"type":"online""#) {
            if let Some(n) = data().and_then(|d| d["count"].as_u64()) {
                self.home_online = Some(n as usize);
                self.gauges.online.store(n as i64, std::sync::atomic::Ordering::Relaxed);
            }
        } else if msg.frame.starts_with(r#"{"type":"likes""#) {
            if let Some(n) = data().and_then(|d| d["total"].as_u64()) {
                self.likes = n;
            }
        }
        self.fan_out(&msg.frame);
    }
}

/// Mirror: the home kicked `user_id`: the user's sockets here close too.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct KickHere {
    pub user_id: i64,
}

/// A moderation command (or the room's close), run by the room's home wherever it was asked:
/// one message that crosses nodes. The answer is `DeleteMessage`'s (true otherwise); None
/// when this actor is a mirror that has just been named the home (asked again, it answers).
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "Option<bool>")]
pub enum Moderate {
    Mute(super::Mute),
    Unmute(super::Unmute),
    Kick(super::Kick),
    SlowMode(super::SlowMode),
    Delete(super::DeleteMessage),
    Close,
}

impl Handler<Moderate> for Room {
    type Result = Option<bool>;
    fn handle(&mut self, msg: Moderate, ctx: &mut Context<Self>) -> Option<bool> {
        if matches!(self.role, Role::Mirror(_)) {
            ctx.notify(BecomeHome);
            return None;
        }
        Some(match msg {
            Moderate::Mute(m) => {
                <Self as Handler<super::Mute>>::handle(self, m, ctx);
                true
            }
            Moderate::Unmute(m) => {
                <Self as Handler<super::Unmute>>::handle(self, m, ctx);
                true
            }
            Moderate::Kick(m) => {
                <Self as Handler<super::Kick>>::handle(self, m, ctx);
                true
            }
            Moderate::SlowMode(m) => {
                <Self as Handler<super::SlowMode>>::handle(self, m, ctx);
                true
            }
            Moderate::Delete(m) => <Self as Handler<super::DeleteMessage>>::handle(self, m, ctx),
            Moderate::Close => {
                <Self as Handler<super::Close>>::handle(self, super::Close, ctx);
                true
            }
        })
    }
}

impl Handler<KickHere> for Room {
    type Result = ();
    fn handle(&mut self, msg: KickHere, _: &mut Context<Self>) {
        self.close_user(msg.user_id, crate::actors::hub::close::KICKED);
    }
}

/// A mirror whose room's home died, now named the home: it numbers on from where the room was.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct BecomeHome;

impl Handler<TakeState> for Room {
    type Result = MessageResult<TakeState>;
    fn handle(&mut self, _: TakeState, _: &mut Context<Self>) -> Self::Result {
        let recent = self.history.recent_chats().into_iter().map(|c| (c.seq, c.data)).collect();
        MessageResult(HomeState { last_seq: self.history.last_seq(), recent, likes: self.likes, pk: self.pk.clone() })
    }
}

// A mirror asked to act as the home was named the home (its home died) before it heard so:
// it takes over first. A chat is refused meanwhile (the viewer may send it again); an event
// waits behind the takeover.
impl Handler<ChatAs> for Room {
    type Result = Result<(), Refusal>;
    fn handle(&mut self, msg: ChatAs, ctx: &mut Context<Self>) -> Self::Result {
        if matches!(self.role, Role::Mirror(_)) {
            ctx.notify(BecomeHome);
            return Err(Refusal {
                code: crate::domain::error::ErrorCode::Unavailable,
                message: "the room is moving to another server; try again".into(),
                retry_after: Some(1),
            });
        }
        super::messages::timed("chat", || self.chat_from(msg.user, &msg.text))
    }
}

impl Handler<RecordFor> for Room {
    type Result = ();
    fn handle(&mut self, msg: RecordFor, ctx: &mut Context<Self>) {
        if matches!(self.role, Role::Mirror(_)) {
            ctx.notify(BecomeHome);
            ctx.notify(msg);
            return;
        }
        self.record(msg.event, msg.chat);
    }
}

impl Handler<Recorded> for Room {
    type Result = ();
    fn handle(&mut self, msg: Recorded, ctx: &mut Context<Self>) {
        if msg.epoch < self.epoch_seen {
            tracing::debug!(room = self.info.id, epoch = msg.epoch, "a frame from a home that lost the room; dropped");
            return;
        }
        self.epoch_seen = msg.epoch;
        if msg.resync {
            self.restart_history_at(msg.seq);
            self.fan_out(&msg.frame);
            return;
        }
        // Frames the mirror's starting state already covers come twice; skip them.
        let last = self.history.last_seq();
        if msg.seq <= last {
            return;
        }
        if msg.seq > last + 1 {
            // Frames were missed (the bus keeps nothing): the viewers here start again.
            self.restart_history_at(msg.seq - 1);
            self.fan_out(&super::frames::bare("resync"));
        }
        let chat = msg.chat.map(|data| super::RecentChat { data, seq: msg.seq, kind: "chat" });
        self.follow_state(&msg.frame);
        self.history.push(msg.seq, msg.frame.clone(), chat);
        self.fan_out(&msg.frame);
        if msg.frame.starts_with(r#"{"type":"room_closed""#) {
            self.close_here(ctx);
        }
    }
}

impl Handler<BecomeHome> for Room {
    type Result = ();
    fn handle(&mut self, _: BecomeHome, ctx: &mut Context<Self>) {
        let Role::Mirror(link) = &self.role else { return };
        tracing::info!(room = self.info.id, "taking the room over as its home");
        link.unfollow(self.info.id);
        self.role = Role::Home(link.clone());
        self.home_online = None;
        self.online_changed();
        self.number_on(ctx, true);
    }
}

/// Home: the room's lease is another node's now (this node was taken for gone while it paused):
/// the actor becomes a mirror of the new home, and its viewers start again from there.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct StepDown;

impl Handler<StepDown> for Room {
    type Result = ();
    fn handle(&mut self, _: StepDown, ctx: &mut Context<Self>) {
        let Role::Home(link) = &self.role else { return };
        tracing::info!(room = self.info.id, "stepping down: the room has another home");
        self.role = Role::Mirror(link.clone());
        // Gifts held for combos go to the new home, which numbers them like any event.
        self.publish_held_gifts();
        self.flush();
        self.fan_out(&super::frames::bare("resync"));
        self.follow_home(ctx);
    }
}

/// The parts of a frame a mirror keeps state from (most frames are none of these, and are told
/// apart by their first bytes without parsing).
#[derive(Deserialize)]
struct StateFrame {
    data: serde_json::Value,
}

impl Room {
    /// What the home changed along with an event, kept by the mirror for its own `welcome`
    /// and history: a deleted chat leaves the history, slow mode and the PK show in `welcome`.
    fn follow_state(&mut self, frame: &ByteString) {
        let data = || serde_json::from_str::<StateFrame>(frame).ok().map(|f| f.data);
        if frame.starts_with(r#"{"type":"chat_deleted""#) {
            if let Some(seq) = data().and_then(|d| d["seq"].as_u64()) {
                self.history.delete_chat(seq);
            }
        } else if frame.starts_with(r#"{"type":"slow_mode""#) {
            if let Some(s) = data().and_then(|d| d["seconds"].as_i64()) {
                self.info.slow_mode_s = s;
            }
        } else if frame.starts_with(r#"{"type":"pk_"#) {
            if let Some(pk) = data().and_then(|mut d| serde_json::from_value(d["pk"].take()).ok()) {
                self.pk = Some(pk);
            }
        }
    }

    /// Events up to `seq` are behind; the recent chats stay for `welcome`.
    fn restart_history_at(&mut self, seq: u64) {
        let recent: Vec<_> = self.history.recent_chats().into_iter().map(|c| (c.seq, c)).collect();
        self.history.start_at(seq, recent);
    }

    /// A home starting (or taking over): it numbers on from the last seq the room reached,
    /// before any other command, and, when it takes over, every viewer starts again there.
    fn number_on(&mut self, ctx: &mut Context<Self>, took_over: bool) {
        let Role::Home(link) = &self.role else { return };
        let link = link.clone();
        let stored = link.numbered_from(self.info.id);
        ctx.wait(stored.into_actor(self).map(move |stored, act, _| {
            let from = stored.max(act.history.last_seq());
            if from == 0 {
                return;
            }
            act.restart_history_at(from);
            if took_over {
                act.fan_out(&super::frames::bare("resync"));
            }
            link.resynced(act.info.id, from);
        }));
    }

    /// A linked actor's start: a home numbers on from the room's last seq; a mirror follows the
    /// home's frames and takes its state, before anything else.
    pub(super) fn start_linked(&mut self, ctx: &mut Context<Self>) {
        if matches!(self.role, Role::Home(_)) {
            self.number_on(ctx, false);
        }
        self.follow_home(ctx);
    }

    /// A mirror follows the home's frames and takes its state, before anything else.
    fn follow_home(&mut self, ctx: &mut Context<Self>) {
        let Role::Mirror(link) = &self.role else { return };
        let follow = link.follow(self.info.id);
        ctx.wait(follow.into_actor(self).map(|state, act, _| match state {
            Some(s) => {
                let recent =
                    s.recent.into_iter().map(|(seq, data)| (seq, super::RecentChat { data, seq, kind: "chat" }));
                act.history.start_at(s.last_seq, recent);
                act.likes = s.likes;
                if s.pk.is_some() {
                    act.pk = s.pk;
                }
            }
            None => tracing::warn!(room = act.info.id, "the room's home did not answer; its history starts here"),
        }));
    }
}
