//! The socket's task: joins the room, then one select loop that writes what the room queued
//! for it, reads client frames, sends its commands to the room one at a time and watches the
//! heartbeat, the kill switch and the server's shutdown signal, all at once: no write, room
//! reply or client can hold the others up. A write that makes no progress for
//! `room.write_timeout_s` drops the socket; client frames are held to a budget and likes are
//! coalesced per socket, so one socket cannot flood its room's mailbox.

use super::budget::{Budget, Verdict};
use super::close::{close_reason, End};
use super::commands::{on_text, Step, Work};
use crate::actors::hub::{close, SocketHandle};
use crate::actors::{frames, room};
use crate::domain::error::ErrorCode;
use crate::http::state::AppState;
use crate::http::views::UserRef;
use crate::shutdown::Listener;
use actix_ws::{CloseCode, Closed, Message, MessageStream, ProtocolError, Session};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::future::LocalBoxFuture;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Replies to this socket waiting to be written; past this many, client frames wait unread.
const OUTBOX_MAX: usize = 32;
/// This socket's commands waiting for the room (sent one at a time, in order); past this many,
/// client frames wait unread, so the client is slowed down by its own TCP window.
const WORK_MAX: usize = 8;
/// A socket's likes go to the room as one count at most this often.
const LIKE_EVERY: Duration = Duration::from_millis(250);
/// How often the loop checks the heartbeat, a stalled write and likes to send.
const TICK: Duration = Duration::from_millis(250);

/// What one socket's task knows about itself.
pub(super) struct Socket {
    pub(super) state: AppState,
    pub(super) addr: actix::Addr<room::Room>,
    pub(super) room_id: i64,
    pub(super) user: UserRef,
    pub(super) handle: SocketHandle,
    /// The server's shutdown signal; dropped with the task.
    pub(super) shutdown: Listener,
}

/// A frame for this socket only.
pub(super) enum Out {
    Text(ByteString),
    /// The answer to a WebSocket-level ping.
    Pong(Bytes),
}

pub(super) type Writing = LocalBoxFuture<'static, Result<(), Closed>>;

/// One frame written to the session; owns a clone of it so the loop can hold it across turns.
pub(super) fn write(mut session: Session, frame: Out) -> Writing {
    Box::pin(async move {
        match frame {
            Out::Text(f) => session.text(f).await,
            Out::Pong(p) => session.pong(&p).await,
        }
    })
}

impl Socket {
    pub(super) async fn run(
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
        // The room, the hub and presence forget the socket at once; the goodbye is bounded.
        self.addr.do_send(room::Leave { socket_id: self.handle.id });
        state.presence.changed(self.room_id, self.user.id, -1);
        state.notices.hub.remove(&self.handle);
        crate::metrics::WS_CONNECTIONS.dec();
        self.goodbye(end, writing, outbox, rx, session, stream).await;
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
}
