//! A viewer's socket: it joins, chats, likes, resumes after a reconnect, and leaves.

use super::super::{frames, history::Replay, Room};
use super::{timed, Refusal};
use crate::actors::hub::SocketHandle;
use crate::clock::{now_ms, rfc3339};
use crate::domain::chat::ChatText;
use crate::domain::error::ErrorCode;
use crate::domain::events::ChatLine;
use crate::domain::ratelimit::Limit;
use crate::domain::user::UserRef;
use actix::prelude::*;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A socket enters the room; answers the encoded `welcome`. Not serialisable: it carries the
/// socket's handle, which only means something in this process.
#[derive(Message)]
#[rtype(result = "Result<ByteString, Refusal>")]
pub struct Join {
    pub user: UserRef,
    /// The contract's `user` object of the viewer, for `welcome.you`. Left untyped: the HTTP
    /// side builds it (`http::views`) and the room only passes it through.
    pub you: serde_json::Value,
    pub handle: SocketHandle,
}

/// A socket left (closed, timed out or dropped).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Leave {
    pub socket_id: u64,
}

/// A chat line from a viewer.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Result<(), Refusal>")]
pub struct Chat {
    pub socket_id: u64,
    pub text: String,
}

/// Likes from a viewer (counted, broadcast as a coalesced total).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Like {
    pub count: i64,
}

/// A reconnected socket asks for the events after `last_seq`.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Resume {
    pub socket_id: u64,
    pub last_seq: u64,
}

impl Handler<Join> for Room {
    type Result = Result<ByteString, Refusal>;

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        timed("join", || {
            if self.closed {
                return Err(Refusal::new(ErrorCode::RoomClosed, "the room is closed"));
            }
            // The welcome's `last_seq` counts every frame sent so far: none may reach the new
            // socket after it.
            self.flush();
            self.add_session(msg.user, msg.handle);
            // An object, not a struct: its keys come out sorted, as the contract's bytes have
            // always been (`room.anchor` included), and `you` is untyped (see `Join`).
            let mut data = json!({
                "room": self.room_json(),
                "you": msg.you,
                "online": self.online(),
                "last_seq": self.history.last_seq(),
                "recent": self.history.recent_chats(),
                "slow_mode": self.info.slow_mode_s,
                "likes": self.likes,
            });
            if let Some(pk) = &self.pk {
                data["pk"] = json!(pk);
            }
            if let Some(rain) = &self.rain {
                data["rain"] = json!(rain);
            }
            Ok(frames::encode("welcome", None, Some(&data)))
        })
    }
}

impl Handler<Leave> for Room {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        timed("leave", || self.drop_session(msg.socket_id));
    }
}

impl Handler<Chat> for Room {
    type Result = ResponseFuture<Result<(), Refusal>>;

    fn handle(&mut self, msg: Chat, _: &mut Context<Self>) -> Self::Result {
        let Some(s) = self.sessions.get(&msg.socket_id) else {
            return Box::pin(std::future::ready(Err(Refusal::new(
                ErrorCode::NotJoined,
                "this socket is not in the room",
            ))));
        };
        let user = s.user.clone();
        // On a mirror the room's home checks and records it, and its answer is the answer.
        if let super::super::Role::Mirror(link) = &self.role {
            return link.chat(self.info.id, user, msg.text);
        }
        let res = timed("chat", || self.chat_from(user, &msg.text));
        Box::pin(std::future::ready(res))
    }
}

impl Room {
    /// A chat by `user`, checked (text, mute, rate, slow mode), filtered and recorded.
    pub(in crate::actors::room) fn chat_from(&mut self, user: UserRef, text: &str) -> Result<(), Refusal> {
        {
            let text = ChatText::parse(text).map_err(|e| Refusal::new(ErrorCode::InvalidInput, e.message))?;
            let now = now_ms();
            if let Some(until) = self.mutes.get(&user.id) {
                if *until > now {
                    return Err(Refusal {
                        code: ErrorCode::Muted,
                        message: format!("you are muted until {}", rfc3339(*until)),
                        retry_after: Some(((*until - now) as u64).div_ceil(1000)),
                    });
                }
            }
            let per_sec = Limit::per_second(self.deps.settings.chat_per_second as u64);
            if self.deps.limits && !self.chat_windows.entry(user.id).or_default().hit(now as u64, per_sec) {
                return Err(Refusal {
                    code: ErrorCode::RateLimited,
                    message: "at most 5 chats a second".into(),
                    retry_after: Some(1),
                });
            }
            let is_anchor = user.id == self.info.anchor.id;
            let slow_ms = self.info.slow_mode_s * 1000;
            if slow_ms > 0 && !is_anchor {
                if let Some(last) = self.last_chat_ms.get(&user.id) {
                    if now - last < slow_ms {
                        let retry = ((slow_ms - (now - last)) as u64).div_ceil(1000);
                        return Err(Refusal {
                            code: ErrorCode::SlowMode,
                            message: format!("slow mode: one message every {} s", self.info.slow_mode_s),
                            retry_after: Some(retry),
                        });
                    }
                }
            }
            self.last_chat_ms.insert(user.id, now);
            let clean = self.deps.filter.apply(text.as_str());
            self.publish_chat(ChatLine { at: rfc3339(now), from: user, text: clean });
            Ok(())
        }
    }
}

impl Handler<Like> for Room {
    type Result = ();
    fn handle(&mut self, msg: Like, _: &mut Context<Self>) {
        timed("like", || {
            if matches!(self.role, super::super::Role::Mirror(_)) {
                self.likes_pending += msg.count.max(0) as u64;
                return;
            }
            self.likes += msg.count.max(0) as u64;
            self.likes_dirty = true;
        });
    }
}

impl Handler<Resume> for Room {
    type Result = ();
    fn handle(&mut self, msg: Resume, _: &mut Context<Self>) {
        // The frames sent so far go first, as they did before the resume was asked.
        self.flush();
        let Some(s) = self.sessions.get(&msg.socket_id) else {
            return;
        };
        let ok = match self.history.since(msg.last_seq) {
            Replay::Frames(frames) => frames.into_iter().all(|f| s.handle.push(f)),
            Replay::Resync => s.handle.push(&frames::bare("resync")),
        };
        if !ok {
            self.drop_session(msg.socket_id);
        }
    }
}
