//! How a socket ends: why its loop stopped, and the goodbye. A killed socket gets the room's
//! close code; when the server stops, the socket gets what the room queued for it, then a close
//! with 1001 (Going Away). The goodbye is bounded by `room.write_timeout_s`.

use super::conn::{Conn, Outgoing};
use super::session::{outgoing, Socket};
use crate::actors::hub::{close, Outbound};
use actix_ws::{CloseCode, CloseReason};
use std::collections::VecDeque;
use std::time::Duration;

/// Why the loop ended.
pub(super) enum End {
    /// The room, a moderator or the server's stop (1001) closed the socket with a code.
    Killed(u16),
    /// The socket closes itself with a code (heartbeat, frame size, frame budget).
    Close(CloseCode, &'static str),
    /// The client sent its close: it is answered with a close (1000).
    ClientClosed,
    /// A write made no progress for `room.write_timeout_s`: the client does not read.
    Stalled,
    /// The connection is gone.
    Gone,
}

fn close_reason(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason { code, description: Some(why.to_owned()) })
}

/// What is still to be written before a close: this socket's replies, then the room's frames.
fn queued(mut outbox: VecDeque<Outgoing>, rx: &mut tokio::sync::mpsc::Receiver<Outbound>) -> VecDeque<Outgoing> {
    while let Ok(f) = rx.try_recv() {
        outbox.push_back(outgoing(f));
    }
    outbox
}

impl Socket {
    /// After the loop (the room, the hub and presence have already forgotten the socket):
    /// finishes the write in flight, flushes what is owed, sends the close and reads until the
    /// client's own close, all within `room.write_timeout_s`.
    pub(super) async fn goodbye(
        &self,
        end: End,
        outbox: VecDeque<Outgoing>,
        mut rx: tokio::sync::mpsc::Receiver<Outbound>,
        mut conn: Conn,
    ) {
        let (flush, reason, answer) = match end {
            End::Killed(code) => {
                let why = match code {
                    close::TOO_SLOW => "too slow",
                    close::KICKED => "kicked",
                    close::ROOM_CLOSED => "room closed",
                    close::GOING_AWAY => "server shutting down",
                    _ => "closed",
                };
                // A slow socket gets no more frames; others get what the room queued before the
                // close (e.g. `room_closed`).
                let flush = if code == close::TOO_SLOW { VecDeque::new() } else { queued(outbox, &mut rx) };
                (flush, close_reason(CloseCode::from(code), why), false)
            }
            End::Close(code, why) => (VecDeque::new(), close_reason(code, why), false),
            End::ClientClosed => (VecDeque::new(), Some(CloseReason::from(CloseCode::Normal)), true),
            End::Stalled => {
                // Nothing can reach a client that does not read: drop the connection.
                crate::metrics::SLOW_CLOSES.inc();
                return;
            }
            End::Gone => return,
        };
        let limit = Duration::from_secs(self.state.settings.room.write_timeout_s);
        let _ = tokio::time::timeout(limit, async move {
            if conn.drain().await.is_err() || conn.send(flush.into_iter().chain([Outgoing::Close(reason)])).is_err() {
                return;
            }
            if conn.drain().await.is_err() || answer {
                return;
            }
            // The closing handshake: read (and drop) what the client still sends until its own
            // close, so the connection ends cleanly instead of being reset over unread data.
            conn.until_close().await;
        })
        .await;
    }
}
