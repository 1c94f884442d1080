//! The cluster as the rooms and the notices see it: a room's home publishes its frames on the
//! room's channel and a mirror passes its chats and events to the home (`Link`); a notice for a
//! user whose sockets are elsewhere goes to their nodes (`NoticeRelay`).

use super::wire::*;
use super::Cluster;
use crate::actors::room::{self, HomeState, Refusal, RoomLink};
use crate::domain::events::{ChatLine, RoomEvent};
use crate::domain::user::UserRef;
use bytestring::ByteString;
use futures_util::future::BoxFuture;

/// The cluster as a room's actor sees it (`actors::room::link`).
pub(super) struct Link(pub(super) Cluster);

impl RoomLink for Link {
    fn recorded(&self, room: i64, seq: u64, frame: &ByteString, chat: Option<&ChatLine>) {
        self.0.inner.bus.to_room(room, encode_frame(seq, self.0.epoch_here(room), frame, chat, false), Some(seq));
    }

    fn numbered_from(&self, room: i64) -> BoxFuture<'static, u64> {
        let bus = self.0.inner.bus.clone();
        Box::pin(async move {
            bus.room_seq(room).await.unwrap_or_else(|e| {
                tracing::warn!(room, error = %e, "cannot read where the room's numbering stands");
                0
            })
        })
    }

    fn snapshot(&self, room: i64, frame: &ByteString) {
        self.0.inner.bus.to_room(room, encode_unnumbered(frame), None);
    }

    fn counts(&self, room: i64, online: usize, likes: u64, entered: room::Entered) {
        let c = self.0.clone();
        tokio::spawn(async move {
            if let Ok(home) = c.home_of(room).await {
                let node = c.inner.me.clone();
                c.send(&home, &Envelope::Tell { room, tell: Tell::Counts { node, online, likes, entered } });
            }
        });
    }

    fn online(&self, room: i64, count: usize) {
        let c = self.0.clone();
        tokio::spawn(async move {
            if let Err(e) = c.inner.members.set_online(room, count).await {
                tracing::debug!(room, error = %e, "the room's online count was not stored");
            }
        });
    }

    fn kicked(&self, room: i64, user: i64) {
        self.0.inner.bus.to_room(room, encode_kick(user), None);
    }

    fn resynced(&self, room: i64, seq: u64) {
        let frame = crate::actors::frames::bare("resync");
        self.0.inner.bus.to_room(room, encode_frame(seq, self.0.epoch_here(room), &frame, None, true), Some(seq));
    }

    fn chat(&self, room: i64, user: UserRef, text: String) -> BoxFuture<'static, Result<(), Refusal>> {
        let c = self.0.clone();
        Box::pin(async move {
            let home = c.home_of(room).await.map_err(|_| unavailable())?;
            match c.ask(&home, room, Ask::Chat { user, text }).await {
                Some(Answer::Chat(res)) => res,
                _ => Err(unavailable()),
            }
        })
    }

    fn gift(&self, room: i64, gift: room::GiftEffect) {
        self.0.tell_at_home(room, Tell::Gift(gift));
    }

    fn record(&self, room: i64, event: RoomEvent, chat: Option<ChatLine>) {
        self.0.tell_at_home(room, Tell::Record { event, chat });
    }

    fn follow(&self, room: i64) -> BoxFuture<'static, Option<HomeState>> {
        let c = self.0.clone();
        Box::pin(async move {
            if let Err(e) = c.inner.bus.follow(room).await {
                tracing::warn!(room, error = %e, "cannot follow the room's frames");
                return None;
            }
            let home = c.home_of(room).await.ok()?;
            match c.ask(&home, room, Ask::State).await {
                Some(Answer::State(state)) => state,
                _ => None,
            }
        })
    }

    fn unfollow(&self, room: i64) {
        let bus = self.0.inner.bus.clone();
        tokio::spawn(async move {
            let _ = bus.unfollow(room).await;
        });
    }
}

/// Notices for users whose sockets are on other nodes: presence (in Redis) says which nodes
/// hold the user's sockets; each live one of them is told.
pub(super) struct NoticeRelay {
    pub(super) cluster: Cluster,
    pub(super) presence: crate::actors::presence::Presence,
}

impl crate::actors::notices::Relay for NoticeRelay {
    fn elsewhere(&self, user_id: i64, frame: &ByteString) {
        let (c, presence, frame) = (self.cluster.clone(), self.presence.clone(), frame.to_string());
        tokio::spawn(async move {
            let nodes = match presence.user_nodes(user_id).await {
                Ok(n) => n,
                Err(e) => return tracing::debug!(user_id, error = %e, "notice: presence unknown"),
            };
            let live = c.live();
            for node in nodes.iter().filter(|n| **n != c.inner.me && live.iter().any(|m| m.id == **n)) {
                c.send(node, &Envelope::Tell { room: 0, tell: Tell::Notice { user_id, frame: frame.clone() } });
            }
        });
    }
}
