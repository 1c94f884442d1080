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
    /// Mirror: an event raised on this node, for the home to record.
    fn record(&self, room: i64, event: RoomEvent, chat: Option<ChatLine>);
    /// Mirror: starts receiving the home's frames, then asks where the home stands, so that
    /// no frame falls between the two (frames up to the answer's `last_seq` are skipped).
    fn follow(&self, room: i64) -> BoxFuture<'static, Option<HomeState>>;
    /// Mirror: stops receiving the room's frames (the actor stopped).
    fn unfollow(&self, room: i64);
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
/// lists, the likes.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct HomeState {
    pub last_seq: u64,
    pub recent: Vec<(u64, ChatLine)>,
    pub likes: u64,
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
    pub frame: ByteString,
    pub chat: Option<ChatLine>,
}

impl Handler<TakeState> for Room {
    type Result = MessageResult<TakeState>;
    fn handle(&mut self, _: TakeState, _: &mut Context<Self>) -> Self::Result {
        let recent = self.history.recent_chats().into_iter().map(|c| (c.seq, c.data)).collect();
        MessageResult(HomeState { last_seq: self.history.last_seq(), recent, likes: self.likes })
    }
}

impl Handler<ChatAs> for Room {
    type Result = Result<(), Refusal>;
    fn handle(&mut self, msg: ChatAs, _: &mut Context<Self>) -> Self::Result {
        super::messages::timed("chat", || self.chat_from(msg.user, &msg.text))
    }
}

impl Handler<RecordFor> for Room {
    type Result = ();
    fn handle(&mut self, msg: RecordFor, _: &mut Context<Self>) {
        self.record(msg.event, msg.chat);
    }
}

impl Handler<Recorded> for Room {
    type Result = ();
    fn handle(&mut self, msg: Recorded, _: &mut Context<Self>) {
        // Frames the mirror's starting state already covers come twice; skip them.
        if msg.seq <= self.history.last_seq() {
            return;
        }
        let chat = msg.chat.map(|data| super::RecentChat { data, seq: msg.seq, kind: "chat" });
        self.history.push(msg.seq, msg.frame.clone(), chat);
        self.fan_out(&msg.frame);
    }
}

impl Room {
    /// A mirror's start: follow the home's frames, and take its state before anything else.
    pub(super) fn start_mirror(&mut self, ctx: &mut Context<Self>) {
        let Role::Mirror(link) = &self.role else { return };
        let follow = link.follow(self.info.id);
        ctx.wait(follow.into_actor(self).map(|state, act, _| match state {
            Some(s) => {
                let recent =
                    s.recent.into_iter().map(|(seq, data)| (seq, super::RecentChat { data, seq, kind: "chat" }));
                act.history.start_at(s.last_seq, recent);
                act.likes = s.likes;
            }
            None => tracing::warn!(room = act.info.id, "the room's home did not answer; its history starts here"),
        }));
    }
}
