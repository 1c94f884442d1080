//! How a socket ends: why its loop stopped, and the goodbye. A killed socket gets the room's
//! close code; when the server stops, the socket gets what the room queued for it, then a close
//! with 1001 (Going Away). The goodbye is bounded by `room.write_timeout_s`.

use super::session::{write, Out, Socket, Writing};
use crate::actors::hub::close;
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use bytestring::ByteString;
use std::collections::VecDeque;
use std::time::Duration;

/// Why the loop ended.
pub(super) enum End {
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

pub(super) fn close_reason(code: CloseCode, why: &str) -> Option<CloseReason> {
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
    /// After the loop (the room, the hub and presence have already forgotten the socket):
    /// finishes the write in flight, flushes what is owed, sends the close and reads until the
    /// client's own close, all within `room.write_timeout_s`.
    pub(super) async fn goodbye(
        &self,
        end: End,
        writing: Option<Writing>,
        outbox: VecDeque<Out>,
        mut rx: tokio::sync::mpsc::Receiver<ByteString>,
        session: Session,
        mut stream: MessageStream,
    ) {
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
        let limit = Duration::from_secs(self.state.settings.room.write_timeout_s);
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
}
