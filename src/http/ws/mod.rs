//! The WebSocket: one task per socket. It checks the one-use ticket at the handshake (and the
//! user's socket caps), joins the room actor, then runs one select loop that writes what the
//! room queued for it, reads client frames, sends its commands to the room one at a time and
//! watches the heartbeat, the kill switch and the server's shutdown signal, all at once: no
//! write, room reply or client can hold the others up. A write that makes no progress for
//! `room.write_timeout_s` drops the socket; client frames are held to a budget and likes are
//! coalesced per socket, so one socket cannot flood its room's mailbox. When the server stops,
//! the socket gets what the room queued for it, then a close with 1001 (Going Away).

mod budget;

use super::error::{AppError, AppResult};
use super::rooms::ticket_key;
use super::state::AppState;
use super::views::{user_view, UserRef};
use crate::actors::hub::{close, SocketCaps, SocketHandle};
use crate::actors::{frames, room};
use crate::domain::error::ErrorCode;
use crate::domain::room::{parse_like_count, LIVE};
use crate::services::rooms::room_actor;
use crate::shutdown::Listener;
use crate::storage::{rooms, users};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Closed, Message, MessageStream, ProtocolError, Session};
use budget::{Budget, Verdict};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Largest client frame; larger closes the socket with 1009.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;
/// Replies to this socket waiting to be written; past this many, client frames wait unread.
const OUTBOX_MAX: usize = 32;
/// This socket's commands waiting for the room (sent one at a time, in order); past this many,
/// client frames wait unread, so the client is slowed down by its own TCP window.
const WORK_MAX: usize = 8;
/// A socket's likes go to the room as one count at most this often.
const LIKE_EVERY: Duration = Duration::from_millis(250);
/// How often the loop checks the heartbeat, a stalled write and likes to send.
const TICK: Duration = Duration::from_millis(250);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(upgrade));
}

/// The caps on one user's sockets on this node (none when `limits.enabled=false`).
pub fn socket_caps(state: &AppState) -> SocketCaps {
    if !state.settings.limits.enabled {
        return SocketCaps::NONE;
    }
    SocketCaps {
        per_room: state.settings.room.max_sockets_per_user_per_room,
        per_user: state.settings.room.max_sockets_per_user,
    }
}

/// 429 for a user at a socket cap. A socket cap is not a time window: try again once one of
/// the user's sockets is closed.
pub fn too_many_sockets(why: &str) -> AppError {
    AppError::RateLimited { retry_after_s: 5, message: format!("{why}; close one first") }
}

#[derive(Deserialize)]
pub struct TicketQuery {
    pub ticket: Option<String>,
}

/// The handshake: a bad, used or expired ticket gets 401 here; a user at a socket cap 429 (the
/// ticket is spent).
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    q: web::Query<TicketQuery>,
) -> AppResult<HttpResponse> {
    let bad = || AppError::unauthorized_as(ErrorCode::Unauthorized, "the ticket is invalid, used or expired");
    let ticket = q.ticket.clone().filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(bad)?;
    let value = state.b.kv.take(&ticket_key(&ticket)).await?.ok_or_else(bad)?;
    let (user_id, room_id) = value
        .split_once(':')
        .and_then(|(u, r)| Some((u.parse::<i64>().ok()?, r.parse::<i64>().ok()?)))
        .ok_or_else(bad)?;
    let r = rooms::find(&state.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    if r.status != LIVE {
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    if rooms::is_banned(&state.b.db, room_id, user_id).await? {
        return Err(AppError::forbidden_as(ErrorCode::Banned, "you are banned from this room"));
    }
    let u = users::find(&state.b.db, user_id).await?.ok_or_else(bad)?;
    let you = serde_json::to_value(user_view(&state, &u).await?).map_err(AppError::internal)?;
    let addr = room_actor(&state, &r).await?;
    // The socket takes its place among the user's sockets before the upgrade, so parallel
    // handshakes cannot pass the caps together.
    let (handle, rx) = SocketHandle::new(u.id, r.id, state.settings.room.queue_size);
    state.notices.hub.try_add(&handle, socket_caps(&state)).map_err(too_many_sockets)?;
    let (res, session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => {
            state.notices.hub.remove(&handle);
            return Err(AppError::bad(format!("not a WebSocket handshake: {e}")));
        }
    };
    let stream = stream.max_frame_size(MAX_CLIENT_FRAME);
    let user = UserRef { id: u.id, nickname: u.nickname.clone() };
    // Held until the task ends: a stopping server waits for it (see `startup::AppHandle::stop`).
    let shutdown = state.shutdown.listen();
    let socket = Socket { state: state.get_ref().clone(), addr, room_id: r.id, user, handle, shutdown };
    actix_web::rt::spawn(socket.run(you, rx, session, stream));
    Ok(res)
}

#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// What one socket's task knows about itself.
struct Socket {
    state: AppState,
    addr: actix::Addr<room::Room>,
    room_id: i64,
    user: UserRef,
    handle: SocketHandle,
    /// The server's shutdown signal; dropped with the task.
    shutdown: Listener,
}

/// A command of this socket for the room (or the notices), sent one at a time, in order.
enum Work {
    Chat(String),
    Resume(u64),
    Ack(String),
}

/// Why the loop ended.
enum End {
    /// The room (or a moderator) closed the socket with a code.
    Killed(u16),
    /// The server is shutting down: 1001.
    Away,
    /// The socket closes itself with a code (heartbeat, frame size, frame budget).
    Close(CloseCode, &'static str),
    /// A write made no progress for `room.write_timeout_s`: the client does not read.
    Stalled,
    /// The client closed, or the connection is gone.
    Gone,
}

/// What a client frame asks of the loop.
enum Step {
    Reply(ByteString),
    Pong(Bytes),
    Do(Work),
    Like(i64),
}

/// A frame for this socket only.
enum Out {
    Text(ByteString),
    /// The answer to a WebSocket-level ping.
    Pong(Bytes),
}

type Writing = LocalBoxFuture<'static, Result<(), Closed>>;

/// One frame written to the session; owns a clone of it so the loop can hold it across turns.
fn write(mut session: Session, frame: Out) -> Writing {
    Box::pin(async move {
        match frame {
            Out::Text(f) => session.text(f).await,
            Out::Pong(p) => session.pong(&p).await,
        }
    })
}

fn close_reason(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason { code, description: Some(why.to_owned()) })
}

/// What is still to be written before a close: this socket's replies, then the room's frames.
fn queued(outbox: VecDeque<Out>, rx: &mut tokio::sync::mpsc::Receiver<ByteString>) -> Vec<Out> {
    let mut flush: Vec<Out> = outbox.into();
    while let Ok(f) = rx.try_recv() {
        flush.push(Out::Text(f));
    }
    flush
}

impl Socket {
    async fn run(
        self,
        you: Value,
        mut rx: tokio::sync::mpsc::Receiver<ByteString>,
        session: Session,
        stream: MessageStream,
    ) {
        let state = &self.state;
        crate::metrics::WS_CONNECTIONS.inc();
        let joined = self.addr.send(room::Join { user: self.user.clone(), you, handle: self.handle.clone() }).await;
        let welcome = match joined {
            Ok(Ok(w)) => w,
            Ok(Err(_)) | Err(_) => {
                state.notices.hub.remove(&self.handle);
                crate::metrics::WS_CONNECTIONS.dec();
                let limit = Duration::from_secs(state.settings.room.write_timeout_s);
                let reason = close_reason(CloseCode::Other(close::ROOM_CLOSED), "room closed");
                let _ = tokio::time::timeout(limit, session.close(reason)).await;
                return;
            }
        };
        state.presence.changed(self.room_id, self.user.id, 1);
        let mut outbox = VecDeque::from([Out::Text(welcome)]);
        if let Ok(pending) = state.notices.pending(self.user.id).await {
            outbox.extend(pending.into_iter().map(Out::Text));
        }
        let mut stream = stream;
        let (end, writing) = self.serve(&mut rx, &session, &mut stream, &mut outbox).await;
        // The room, the hub and presence forget the socket at once; the goodbye below is bounded.
        self.addr.do_send(room::Leave { socket_id: self.handle.id });
        state.presence.changed(self.room_id, self.user.id, -1);
        state.notices.hub.remove(&self.handle);
        crate::metrics::WS_CONNECTIONS.dec();
        let (flush, reason) = match end {
            End::Killed(code) => {
                let why = match code {
                    close::TOO_SLOW => "too slow",
                    close::KICKED => "kicked",
                    close::ROOM_CLOSED => "room closed",
                    _ => "closed",
                };
                // A slow socket gets no more frames; others get what the room queued before the
                // close (e.g. `room_closed`).
                let flush = if code == close::TOO_SLOW { Vec::new() } else { queued(outbox, &mut rx) };
                (flush, close_reason(CloseCode::Other(code), why))
            }
            End::Away => (queued(outbox, &mut rx), close_reason(CloseCode::Away, "server shutting down")),
            End::Close(code, why) => (Vec::new(), close_reason(code, why)),
            End::Stalled => {
                // Nothing can reach a client that does not read: drop the session. The connection
                // itself is ended by the kernel's TCP user timeout (see `startup`).
                crate::metrics::SLOW_CLOSES.inc();
                return;
            }
            End::Gone => return,
        };
        let limit = Duration::from_secs(state.settings.room.write_timeout_s);
        let _ = tokio::time::timeout(limit, async move {
            if let Some(w) = writing {
                if w.await.is_err() {
                    return;
                }
            }
            for f in flush {
                if write(session.clone(), f).await.is_err() {
                    return;
                }
            }
            if session.close(reason).await.is_err() {
                return;
            }
            // The closing handshake: read (and drop) what the client still sends until its own
            // close, so the connection ends cleanly instead of being reset over unread data.
            while let Some(Ok(m)) = stream.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    /// The socket's loop; returns why it ended and the write still in flight, if any.
    async fn serve(
        &self,
        rx: &mut tokio::sync::mpsc::Receiver<ByteString>,
        session: &Session,
        stream: &mut MessageStream,
        outbox: &mut VecDeque<Out>,
    ) -> (End, Option<Writing>) {
        let settings = &self.state.settings;
        let write_timeout = Duration::from_secs(settings.room.write_timeout_s);
        let heartbeat = Duration::from_secs(settings.room.heartbeat_timeout_s);
        let mut budget = settings.limits.enabled.then(|| {
            Budget::new(settings.room.client_frames_per_second, settings.room.client_frames_burst, Instant::now())
        });
        let mut writing: Option<Writing> = None;
        let mut write_since = Instant::now();
        let mut work: VecDeque<Work> = VecDeque::new();
        let mut doing: Option<LocalBoxFuture<'static, Option<ByteString>>> = None;
        let mut likes: i64 = 0;
        let mut likes_sent = Instant::now() - LIKE_EVERY;
        let mut last_heard = Instant::now();
        let mut told_rate_limited: Option<Instant> = None;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let away = self.shutdown.fired();
        tokio::pin!(away);
        let end = loop {
            if writing.is_none() {
                if let Some(f) = outbox.pop_front() {
                    writing = Some(write(session.clone(), f));
                    write_since = Instant::now();
                }
            }
            if doing.is_none() {
                if let Some(w) = work.pop_front() {
                    doing = Some(self.start(w));
                }
            }
            let reading = outbox.len() < OUTBOX_MAX && work.len() < WORK_MAX;
            tokio::select! {
                biased;
                code = self.handle.kill.fired() => break End::Killed(code),
                () = &mut away => break End::Away,
                _ = tick.tick() => {
                    if writing.is_some() && write_since.elapsed() >= write_timeout {
                        break End::Stalled;
                    }
                    if last_heard.elapsed() > heartbeat {
                        break End::Close(CloseCode::Other(close::HEARTBEAT), "heartbeat timeout");
                    }
                    if likes > 0 && likes_sent.elapsed() >= LIKE_EVERY {
                        likes = self.send_likes(likes);
                        likes_sent = Instant::now();
                    }
                }
                done = async { match writing.as_mut() { Some(w) => w.await, None => std::future::pending().await } }, if writing.is_some() => {
                    writing = None;
                    if done.is_err() {
                        break End::Gone;
                    }
                }
                reply = async { match doing.as_mut() { Some(d) => d.await, None => std::future::pending().await } }, if doing.is_some() => {
                    doing = None;
                    outbox.extend(reply.map(Out::Text));
                }
                msg = stream.recv(), if reading => {
                    let m = match msg {
                        Some(Ok(m)) => m,
                        Some(Err(ProtocolError::Overflow)) => break End::Close(CloseCode::Size, "frame over 4 KiB"),
                        Some(Err(_)) | None => break End::Gone,
                    };
                    let now = Instant::now();
                    last_heard = now;
                    if matches!(m, Message::Close(_)) {
                        break End::Gone;
                    }
                    if !matches!(m, Message::Text(_) | Message::Binary(_) | Message::Ping(_)) {
                        continue;
                    }
                    // The budget is checked before the frame is even parsed.
                    match budget.as_mut().map_or(Verdict::Take, |b| b.spend(now)) {
                        Verdict::Take => {}
                        Verdict::Drop => {
                            if told_rate_limited.is_none_or(|t| now - t >= Duration::from_secs(1)) {
                                told_rate_limited = Some(now);
                                let data = serde_json::json!({
                                    "code": ErrorCode::RateLimited,
                                    "message": "too many frames; some were dropped",
                                    "retry_after": 1,
                                });
                                outbox.push_back(Out::Text(frames::encode("error", None, Some(&data))));
                            }
                            continue;
                        }
                        Verdict::Close => break End::Close(CloseCode::Other(close::POLICY), "too many frames"),
                    }
                    let step = match m {
                        Message::Text(t) => on_text(&t),
                        Message::Ping(p) => Step::Pong(p),
                        _ => Step::Reply(frames::error(ErrorCode::InvalidFrame, "frames are JSON text")),
                    };
                    match step {
                        Step::Reply(f) => outbox.push_back(Out::Text(f)),
                        Step::Pong(p) => outbox.push_back(Out::Pong(p)),
                        Step::Do(w) => work.push_back(w),
                        Step::Like(n) => {
                            likes = likes.saturating_add(n);
                            if likes_sent.elapsed() >= LIKE_EVERY {
                                likes = self.send_likes(likes);
                                likes_sent = now;
                            }
                        }
                    }
                }
                out = rx.recv(), if writing.is_none() => {
                    let Some(f) = out else { break End::Gone };
                    writing = Some(write(session.clone(), Out::Text(f)));
                    write_since = Instant::now();
                }
            }
        };
        // Likes already counted here still reach the room.
        if likes > 0 {
            self.send_likes(likes);
        }
        (end, writing)
    }

    /// Sends this socket's coalesced likes without waiting and without overfilling the room's
    /// mailbox; answers what is left to send later (all of it when the mailbox is full).
    fn send_likes(&self, count: i64) -> i64 {
        match self.addr.try_send(room::Like { count }) {
            Ok(()) => 0,
            Err(actix::prelude::SendError::Full(_)) => count,
            Err(actix::prelude::SendError::Closed(_)) => 0,
        }
    }

    /// Sends one command on its way; the future answers a frame for this socket, if any. The
    /// room is asked with `send`, which waits for room in its mailbox instead of overfilling it.
    fn start(&self, w: Work) -> LocalBoxFuture<'static, Option<ByteString>> {
        match w {
            Work::Chat(text) => {
                let req = self.addr.send(room::Chat { socket_id: self.handle.id, text });
                Box::pin(async move {
                    match req.await {
                        Ok(Ok(())) => None,
                        Ok(Err(r)) => {
                            let mut data = serde_json::json!({"code": r.code, "message": r.message});
                            if let Some(s) = r.retry_after {
                                data["retry_after"] = s.into();
                            }
                            Some(frames::encode("error", None, Some(&data)))
                        }
                        Err(_) => Some(frames::error(ErrorCode::Unavailable, "the room is not answering; try again")),
                    }
                })
            }
            Work::Resume(last_seq) => {
                let req = self.addr.send(room::Resume { socket_id: self.handle.id, last_seq });
                Box::pin(async move {
                    match req.await {
                        Ok(()) => None,
                        Err(_) => {
                            Some(frames::error(ErrorCode::Unavailable, "the room is not answering; send resume again"))
                        }
                    }
                })
            }
            Work::Ack(id) => {
                let notices = self.state.notices.clone();
                let user_id = self.user.id;
                Box::pin(async move {
                    if let Err(e) = notices.ack(user_id, &id).await {
                        tracing::warn!(error = %e, "notice ack failed");
                    }
                    None
                })
            }
        }
    }
}

/// Reads one client text frame: a reply for this socket only, or something for the loop to do.
fn on_text(text: &str) -> Step {
    let Ok(f) = serde_json::from_str::<ClientFrame>(text) else {
        return Step::Reply(frames::error(ErrorCode::InvalidFrame, "a frame is JSON: {\"type\", \"data\"?}"));
    };
    match f.kind.as_str() {
        "ping" => Step::Reply(frames::bare("pong")),
        "chat" => match f.data.get("text").and_then(Value::as_str) {
            Some(text) => Step::Do(Work::Chat(text.to_owned())),
            None => Step::Reply(frames::error(ErrorCode::InvalidFrame, "chat needs data.text")),
        },
        "like" => {
            let count = match f.data.get("count") {
                None | Some(Value::Null) => Ok(1),
                Some(v) => v.as_i64().ok_or(()).and_then(|c| parse_like_count(Some(c)).map_err(|_| ())),
            };
            match count {
                Ok(c) => Step::Like(c),
                Err(()) => Step::Reply(frames::error(ErrorCode::InvalidInput, "like count must be 1 to 50")),
            }
        }
        "ack" => match f.data.get("id").and_then(Value::as_str) {
            Some(id) => Step::Do(Work::Ack(id.to_owned())),
            None => Step::Reply(frames::error(ErrorCode::InvalidFrame, "ack needs data.id")),
        },
        "resume" => match f.data.get("last_seq").and_then(Value::as_u64) {
            Some(last_seq) => Step::Do(Work::Resume(last_seq)),
            None => Step::Reply(frames::error(ErrorCode::InvalidFrame, "resume needs data.last_seq")),
        },
        _ => Step::Reply(frames::error(ErrorCode::InvalidFrame, "unknown frame type")),
    }
}
