//! The socket's task: joins the room, then one select loop that writes what the room queued
//! for it (everything queued at once, as one write), reads client frames, sends its commands to the room one at a time and watches the
//! heartbeat, the kill switch and the server's shutdown signal, all at once: no write, room
//! reply or client can hold the others up. A write that makes no progress for
//! `room.write_timeout_s` drops the socket; client frames are held to a budget and likes are
//! coalesced per socket, so one socket cannot flood its room's mailbox.

use super::budget::{Budget, Verdict};
use super::close::End;
use super::commands::{on_text, Step, Work};
use super::conn::{Conn, Incoming, Outgoing};
use crate::actors::hub::{close, Outbound, SocketHandle};
use crate::actors::{frames, room};
use crate::domain::error::ErrorCode;
use crate::http::state::AppState;
use crate::http::views::UserRef;
use crate::shutdown::Listener;
use actix_ws::{CloseCode, ProtocolError};
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
/// At most this many of the room's frames go into one write.
const BATCH_MAX: usize = 512;
/// How often the loop checks the heartbeat, a stalled write and likes to send (a timer per
/// socket: in a room of 10,000 every wake-up counts; the room sends likes once a second anyway).
const TICK: Duration = Duration::from_secs(1);

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

/// This socket's replies, then everything the room queued for it, as one batch.
fn send_queued(
    conn: &mut Conn,
    outbox: &mut VecDeque<Outgoing>,
    first: Option<Outbound>,
    rx: &mut tokio::sync::mpsc::Receiver<Outbound>,
) -> std::io::Result<()> {
    let room = first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())).take(BATCH_MAX);
    conn.send(outbox.drain(..).chain(room.map(outgoing)))?;
    Ok(())
}

pub(super) fn outgoing(o: Outbound) -> Outgoing {
    match o {
        Outbound::Text(t) => Outgoing::Text(t),
        Outbound::Wire(w) => Outgoing::Wire(w),
    }
}

impl Socket {
    pub(super) async fn run(self, you: Value, mut rx: tokio::sync::mpsc::Receiver<Outbound>, mut conn: Conn) {
        let state = &self.state;
        crate::metrics::WS_CONNECTIONS.inc();
        let joined = self.addr.send(room::Join { user: self.user.clone(), you, handle: self.handle.clone() }).await;
        let welcome = match joined {
            Ok(Ok(w)) => w,
            Ok(Err(_)) | Err(_) => {
                state.notices.hub.remove(&self.handle);
                crate::metrics::WS_CONNECTIONS.dec();
                let end = End::Close(CloseCode::Other(close::ROOM_CLOSED), "room closed");
                self.goodbye(end, VecDeque::new(), rx, conn).await;
                return;
            }
        };
        state.presence.changed(self.room_id, self.user.id, 1);
        let mut outbox = VecDeque::from([Outgoing::Text(welcome)]);
        if let Ok(pending) = state.notices.pending(self.user.id).await {
            outbox.extend(pending.into_iter().map(Outgoing::Text));
        }
        let end = self.serve(&mut rx, &mut conn, &mut outbox).await;
        // The room, the hub and presence forget the socket at once; the goodbye is bounded.
        self.addr.do_send(room::Leave { socket_id: self.handle.id });
        state.presence.changed(self.room_id, self.user.id, -1);
        state.notices.hub.remove(&self.handle);
        crate::metrics::WS_CONNECTIONS.dec();
        self.goodbye(end, outbox, rx, conn).await;
    }

    /// The socket's loop; returns why it ended.
    async fn serve(
        &self,
        rx: &mut tokio::sync::mpsc::Receiver<Outbound>,
        conn: &mut Conn,
        outbox: &mut VecDeque<Outgoing>,
    ) -> End {
        let settings = &self.state.settings;
        let write_timeout = Duration::from_secs(settings.room.write_timeout_s);
        let heartbeat = Duration::from_secs(settings.room.heartbeat_timeout_s);
        let mut client = Client {
            budget: settings.limits.enabled.then(|| {
                Budget::new(settings.room.client_frames_per_second, settings.room.client_frames_burst, Instant::now())
            }),
            likes: 0,
            likes_sent: Instant::now() - LIKE_EVERY,
            last_heard: Instant::now(),
            told_rate_limited: None,
        };
        let mut write_since = Instant::now();
        let mut work: VecDeque<Work> = VecDeque::new();
        let mut doing: Option<LocalBoxFuture<'static, Option<ByteString>>> = None;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The server's stop fires every socket's kill switch with 1001 (`AppHandle::stop`); one
        // admitted after that sees the signal here.
        if self.shutdown.is_shutdown() {
            return End::Killed(close::GOING_AWAY);
        }
        let killed = self.handle.kill.fired();
        tokio::pin!(killed);
        let end = loop {
            if !conn.unsent() && !outbox.is_empty() {
                if send_queued(conn, outbox, None, rx).is_err() {
                    break End::Gone;
                }
                write_since = Instant::now();
            }
            if doing.is_none() {
                if let Some(w) = work.pop_front() {
                    doing = Some(self.start(w));
                }
            }
            let reading = outbox.len() < OUTBOX_MAX && work.len() < WORK_MAX;
            // Client frames already read are handled before more is read.
            if reading {
                match conn.next_frame() {
                    Ok(Some(frame)) => match self.on_frame(frame, &mut client, outbox, &mut work) {
                        Some(end) => break end,
                        None => continue,
                    },
                    Ok(None) => {}
                    Err(ProtocolError::Overflow) => break End::Close(CloseCode::Size, "frame over 4 KiB"),
                    Err(_) => break End::Close(CloseCode::Protocol, "not a valid WebSocket frame"),
                }
            }
            tokio::select! {
                biased;
                code = &mut killed => break End::Killed(code),
                _ = tick.tick() => {
                    if conn.unsent() && write_since.elapsed() >= write_timeout {
                        break End::Stalled;
                    }
                    if client.last_heard.elapsed() > heartbeat {
                        break End::Close(CloseCode::Other(close::HEARTBEAT), "heartbeat timeout");
                    }
                    if client.likes > 0 && client.likes_sent.elapsed() >= LIKE_EVERY {
                        client.likes = self.send_likes(client.likes);
                        client.likes_sent = Instant::now();
                    }
                }
                w = conn.writable(), if conn.unsent() => {
                    match w.and_then(|()| conn.flush()) {
                        Ok(true) => write_since = Instant::now(),
                        Ok(false) => {}
                        Err(_) => break End::Gone,
                    }
                }
                reply = async { match doing.as_mut() { Some(d) => d.await, None => std::future::pending().await } }, if doing.is_some() => {
                    doing = None;
                    outbox.extend(reply.map(Outgoing::Text));
                }
                r = conn.readable(), if reading => {
                    if !matches!(r.and_then(|()| conn.fill()), Ok(true)) {
                        break End::Gone;
                    }
                }
                out = rx.recv(), if !conn.unsent() => {
                    let Some(f) = out else { break End::Gone };
                    if send_queued(conn, outbox, Some(f), rx).is_err() {
                        break End::Gone;
                    }
                    write_since = Instant::now();
                }
            }
        };
        // Likes already counted here still reach the room.
        if client.likes > 0 {
            self.send_likes(client.likes);
        }
        end
    }

    /// One whole client frame: a reply, a command for the room, likes, or the end.
    fn on_frame(
        &self,
        frame: Incoming,
        client: &mut Client,
        outbox: &mut VecDeque<Outgoing>,
        work: &mut VecDeque<Work>,
    ) -> Option<End> {
        let now = Instant::now();
        client.last_heard = now;
        match frame {
            Incoming::Close => return Some(End::ClientClosed),
            Incoming::Pong | Incoming::Fragment => return None,
            Incoming::Text(_) | Incoming::Binary | Incoming::Ping(_) => {}
        }
        // The budget is checked before the frame is even parsed.
        match client.budget.as_mut().map_or(Verdict::Take, |b| b.spend(now)) {
            Verdict::Take => {}
            Verdict::Drop => {
                if client.told_rate_limited.is_none_or(|t| now - t >= Duration::from_secs(1)) {
                    client.told_rate_limited = Some(now);
                    let data = serde_json::json!({
                        "code": ErrorCode::RateLimited,
                        "message": "too many frames; some were dropped",
                        "retry_after": 1,
                    });
                    outbox.push_back(Outgoing::Text(frames::encode("error", None, Some(&data))));
                }
                return None;
            }
            Verdict::Close => return Some(End::Close(CloseCode::Other(close::POLICY), "too many frames")),
        }
        let step = match frame {
            Incoming::Text(t) => match std::str::from_utf8(&t) {
                Ok(t) => on_text(t),
                Err(_) => return Some(End::Close(CloseCode::Invalid, "text is not UTF-8")),
            },
            Incoming::Ping(p) => Step::Pong(p),
            _ => Step::Reply(frames::error(ErrorCode::InvalidFrame, "frames are JSON text")),
        };
        match step {
            Step::Reply(f) => outbox.push_back(Outgoing::Text(f)),
            Step::Pong(p) => outbox.push_back(Outgoing::Pong(p)),
            Step::Do(w) => work.push_back(w),
            Step::Like(n) => {
                client.likes = client.likes.saturating_add(n);
                if client.likes_sent.elapsed() >= LIKE_EVERY {
                    client.likes = self.send_likes(client.likes);
                    client.likes_sent = now;
                }
            }
        }
        None
    }
}

/// What the loop keeps about the client's side of the socket.
struct Client {
    budget: Option<Budget>,
    likes: i64,
    likes_sent: Instant,
    last_heard: Instant,
    told_rate_limited: Option<Instant>,
}
