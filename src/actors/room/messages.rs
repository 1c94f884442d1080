//! The room's messages, one struct each, and their handlers.

use super::{frames, history::Replay, Room};
use crate::actors::hub::{close, SocketHandle};
use crate::clock::{now_ms, rfc3339};
use crate::domain::chat::ChatText;
use crate::domain::error::ErrorCode;
use crate::domain::ratelimit::Limit;
use crate::domain::user::UserRef;
use actix::prelude::*;
use bytestring::ByteString;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Why a room refused a command; `code` is the contract's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }
}

/// A socket enters the room; answers the encoded `welcome`.
#[derive(Message)]
#[rtype(result = "Result<ByteString, Refusal>")]
pub struct Join {
    pub user: UserRef,
    /// The contract's `user` object of the viewer, for `welcome.you`.
    pub you: Value,
    pub handle: SocketHandle,
}

/// A socket left (closed, timed out or dropped).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub socket_id: u64,
}

/// A chat line from a viewer.
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct Chat {
    pub socket_id: u64,
    pub text: String,
}

/// Likes from a viewer (counted, broadcast as a coalesced total).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Like {
    pub count: i64,
}

/// A reconnected socket asks for the events after `last_seq`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resume {
    pub socket_id: u64,
    pub last_seq: u64,
}

/// Mutes a user's chat until `until_ms`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Mute {
    pub user_id: i64,
    pub until_ms: i64,
}

/// Lifts a mute.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unmute {
    pub user_id: i64,
}

/// Closes a user's sockets with 4003 (kick or ban).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kick {
    pub user_id: i64,
}

/// Sets slow mode (0 turns it off).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SlowMode {
    pub seconds: i64,
}

/// Removes a chat message; false when there is no such message.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct DeleteMessage {
    pub seq: u64,
}

/// The room closes: viewers get `room_closed` and 4004.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close;

/// A room event from beside the room (gift, PK, rain, products, stock); answers its seq.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Publish {
    pub kind: &'static str,
    pub data: Value,
}

/// Sets what `welcome` shows of the PK or rain (`None` removes it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetExtra {
    pub key: &'static str,
    pub value: Option<Value>,
}

/// Counts of the room, for the HTTP side.
#[derive(Message)]
#[rtype(result = "RoomSnapshot")]
pub struct Snapshot;

#[derive(Debug, Clone)]
pub struct RoomSnapshot {
    pub online: usize,
    pub likes: u64,
    pub last_seq: u64,
    pub sockets: usize,
}

/// A gift was paid for: the room sees it and the ranking counts it.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct GiftEffect {
    pub from: UserRef,
    pub coins: i64,
    /// The `gift` event's data.
    pub data: Value,
}

/// The top 20 gifters of this live session: `(user, coins)`.
#[derive(Message)]
#[rtype(result = "Vec<(UserRef, i64)>")]
pub struct Ranking;

/// A product's stock changed; the room sees `stock` at most once a second per product.
/// Announcements can arrive out of order (they come from concurrent requests): one whose
/// `version` is not newer than what the room holds is stale and ignored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stock {
    pub product_id: i64,
    pub left: i64,
    /// The product's `stock_version` when `left` was read.
    pub version: i64,
}

/// The live stock the room knows of these products.
#[derive(Message)]
#[rtype(result = "HashMap<i64, i64>")]
pub struct StockLeft {
    pub product_ids: Vec<i64>,
}

/// Test-only fault: the actor fails, as a bug would, and its supervisor restarts it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

/// Test-only fault: the actor is busy for a while, as under a heavy load (it blocks its thread).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stall {
    pub ms: u64,
}

fn timed<T>(kind: &'static str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    crate::metrics::COMMANDS.with_label_values(&[kind]).inc();
    crate::metrics::COMMAND_LATENCY.observe(t.elapsed().as_secs_f64());
    r
}

impl Handler<Join> for Room {
    type Result = Result<ByteString, Refusal>;

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        timed("join", || {
            if self.closed {
                return Err(Refusal::new(ErrorCode::RoomClosed, "the room is closed"));
            }
            self.add_session(msg.user, msg.handle);
            let mut data = json!({
                "room": self.room_json(),
                "you": msg.you,
                "online": self.online(),
                "last_seq": self.history.last_seq(),
                "recent": self.history.recent_chats(),
                "slow_mode": self.info.slow_mode_s,
            });
            for (k, v) in &self.extras {
                data[*k] = v.clone();
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
    type Result = Result<(), Refusal>;

    fn handle(&mut self, msg: Chat, _: &mut Context<Self>) -> Self::Result {
        timed("chat", || {
            let Some(s) = self.sessions.get(&msg.socket_id) else {
                return Err(Refusal::new(ErrorCode::NotJoined, "this socket is not in the room"));
            };
            let user = s.user.clone();
            let text = ChatText::parse(&msg.text).map_err(|e| Refusal::new(ErrorCode::InvalidInput, e.message))?;
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
            self.publish("chat", json!({"from": user, "text": clean, "at": rfc3339(now)}), true);
            Ok(())
        })
    }
}

impl Handler<Like> for Room {
    type Result = ();
    fn handle(&mut self, msg: Like, _: &mut Context<Self>) {
        timed("like", || {
            self.likes += msg.count.max(0) as u64;
            self.likes_dirty = true;
        });
    }
}

impl Handler<Resume> for Room {
    type Result = ();
    fn handle(&mut self, msg: Resume, _: &mut Context<Self>) {
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

impl Handler<Mute> for Room {
    type Result = ();
    fn handle(&mut self, msg: Mute, _: &mut Context<Self>) {
        self.mutes.insert(msg.user_id, msg.until_ms);
        self.publish("muted", json!({"user_id": msg.user_id, "until": rfc3339(msg.until_ms)}), false);
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
    }
}

impl Handler<SlowMode> for Room {
    type Result = ();
    fn handle(&mut self, msg: SlowMode, _: &mut Context<Self>) {
        self.info.slow_mode_s = msg.seconds;
        self.publish("slow_mode", json!({"seconds": msg.seconds}), false);
    }
}

impl Handler<DeleteMessage> for Room {
    type Result = bool;
    fn handle(&mut self, msg: DeleteMessage, _: &mut Context<Self>) -> bool {
        if !self.history.delete_chat(msg.seq) {
            return false;
        }
        self.publish("chat_deleted", json!({"seq": msg.seq}), false);
        true
    }
}

impl Handler<Close> for Room {
    type Result = ();
    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.publish("room_closed", json!({}), false);
        self.closed = true;
        crate::metrics::ROOMS.dec();
        for s in self.sessions.values() {
            s.handle.kill.fire(close::ROOM_CLOSED);
        }
        self.sessions.clear();
        self.users.clear();
        self.gauges.online.store(0, std::sync::atomic::Ordering::Relaxed);
        // Without the timer the actor stops once the last address is dropped.
        if let Some(h) = self.tick.take() {
            ctx.cancel_future(h);
        }
    }
}

impl Handler<Publish> for Room {
    type Result = u64;
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> u64 {
        timed(msg.kind, || self.publish(msg.kind, msg.data, false))
    }
}

impl Handler<SetExtra> for Room {
    type Result = ();
    fn handle(&mut self, msg: SetExtra, _: &mut Context<Self>) {
        match msg.value {
            Some(v) => self.extras.insert(msg.key, v),
            None => self.extras.remove(msg.key),
        };
    }
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

impl Handler<GiftEffect> for Room {
    type Result = u64;
    fn handle(&mut self, msg: GiftEffect, _: &mut Context<Self>) -> u64 {
        timed("gift", || {
            let e = self.ranking.entry(msg.from.id).or_insert_with(|| (msg.from.nickname.clone(), 0));
            e.0 = msg.from.nickname;
            e.1 += msg.coins;
            self.publish("gift", msg.data, false)
        })
    }
}

impl Handler<Ranking> for Room {
    type Result = MessageResult<Ranking>;
    fn handle(&mut self, _: Ranking, _: &mut Context<Self>) -> Self::Result {
        let mut v: Vec<(UserRef, i64)> = self
            .ranking
            .iter()
            .map(|(id, (name, coins))| (UserRef { id: *id, nickname: name.clone() }, *coins))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
        v.truncate(20);
        MessageResult(v)
    }
}

impl Handler<Stock> for Room {
    type Result = ();
    fn handle(&mut self, msg: Stock, _: &mut Context<Self>) {
        if self.stock.get(&msg.product_id).is_some_and(|(_, v)| *v >= msg.version) {
            return; // stale: a newer count is known already
        }
        self.stock.insert(msg.product_id, (msg.left, msg.version));
        let recently = self.stock_sent_ms.get(&msg.product_id).is_some_and(|t| now_ms() - t < 1000);
        if recently {
            self.stock_dirty.insert(msg.product_id, msg.left);
        } else {
            self.stock_dirty.remove(&msg.product_id);
            self.stock_sent_ms.insert(msg.product_id, now_ms());
            self.publish("stock", json!({"product_id": msg.product_id, "left": msg.left}), false);
        }
    }
}

impl Handler<StockLeft> for Room {
    type Result = MessageResult<StockLeft>;
    fn handle(&mut self, msg: StockLeft, _: &mut Context<Self>) -> Self::Result {
        MessageResult(msg.product_ids.iter().filter_map(|id| self.stock.get(id).map(|(l, _)| (*id, *l))).collect())
    }
}
