//! A room's frames on their way out. Each frame is encoded once as a WebSocket frame and added
//! to the room's batch; the batch goes to every socket as one shared buffer, which each socket
//! writes as it is, in one `write`. When the room is quiet a frame goes at once; when frames
//! follow each other faster than the room's window, they wait for the window to end and go
//! together. The window grows with the audience (5 µs a socket, at most `room.batch_max_ms`),
//! because what a flush costs grows with it: a few hundred viewers get every frame at once, ten
//! thousand get frames in batches of up to 50 ms instead of one wake-up and one `write` per
//! frame each, which is what made a big room's frames queue up.

use super::Room;
use actix::prelude::*;
use actix_http::ws::{OpCode, Parser};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use std::time::{Duration, Instant};

/// The window per socket: about what a flush costs per socket, so that flushing a room takes
/// at most about a core. Measured on one core (BENCHMARKS.md, "The batch window"): 2,000
/// viewers at 100 chats/s got p99 53.8 ms with 10 µs (a 20 ms window: every chat waited for
/// the one before's) and 42.5 ms with 5 µs, the bare relay's 41.5; 1,000 viewers at 520 frames/s
/// were the same either way; 10,000 viewers reach `room.batch_max_ms` with both.
const WINDOW_PER_SOCKET: Duration = Duration::from_micros(5);

/// A window that grows with the audience: `each` per viewer, at most `max`.
pub(super) fn per_viewer(each: Duration, viewers: usize, max: Duration) -> Duration {
    each.saturating_mul(u32::try_from(viewers).unwrap_or(u32::MAX)).min(max)
}

/// When what waits should go; the caller schedules one send for it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum When {
    /// Now (the batch: as soon as the room has handled what is already in its mailbox).
    Now,
    /// After this long.
    Later(Duration),
    /// A send is scheduled already.
    Scheduled,
}

/// The pacing rule of a room's sends, shared by its frame batch and its gift window (`combo`):
/// what comes when the last send is a window or more ago goes now; what comes sooner waits for
/// the window's end, and what comes while a send is scheduled goes with it.
#[derive(Default)]
pub(super) struct Pace {
    last: Option<Instant>,
    scheduled: bool,
}

impl Pace {
    /// Something is ready at `now`: when it should go, for a window of `window`. Counts as
    /// scheduled until `went`.
    pub(super) fn ready(&mut self, window: Duration, now: Instant) -> When {
        if self.scheduled {
            return When::Scheduled;
        }
        self.scheduled = true;
        match self.last.map(|l| now.saturating_duration_since(l)) {
            Some(since) if since < window => When::Later(window - since),
            _ => When::Now,
        }
    }

    /// The scheduled send came; when it sent something, the window starts again from `now`.
    pub(super) fn went(&mut self, sent: bool, now: Instant) {
        self.scheduled = false;
        if sent {
            self.last = Some(now);
        }
    }
}

pub(super) struct Batch {
    wire: BytesMut,
    frames: usize,
    pace: Pace,
    max: Duration,
}

impl Batch {
    pub(super) fn new(max: Duration) -> Self {
        Self { wire: BytesMut::new(), frames: 0, pace: Pace::default(), max }
    }

    fn window(&self, sockets: usize) -> Duration {
        per_viewer(WINDOW_PER_SOCKET, sockets, self.max)
    }

    /// Adds a frame for `sockets` sockets; says when the batch should go.
    pub(super) fn add(&mut self, frame: &ByteString, sockets: usize, now: Instant) -> When {
        Parser::write_message(&mut self.wire, frame.as_bytes(), OpCode::Text, true, false);
        self.frames += 1;
        self.pace.ready(self.window(sockets), now)
    }

    /// The frames waiting, as one buffer of WebSocket frames, and how many they are; `None`
    /// when there are none. The window starts again from `now`.
    pub(super) fn take(&mut self, now: Instant) -> Option<(Bytes, usize)> {
        self.pace.went(self.frames > 0, now);
        if self.frames == 0 {
            return None;
        }
        let n = std::mem::take(&mut self.frames);
        Some((self.wire.split().freeze(), n))
    }
}

impl Room {
    /// Sends one encoded frame to every socket, with the frames of the same batch (`batch`):
    /// once the room has handled what its mailbox holds already (everything it publishes in
    /// one go is one batch), or when the room's window ends.
    pub(super) fn fan_out(&mut self, frame: &ByteString) {
        let when = self.batch.add(frame, self.sessions.len(), std::time::Instant::now());
        let Some(me) = self.me.clone() else {
            // Not started (no mailbox): nothing to wait for.
            self.flush();
            return;
        };
        match when {
            When::Scheduled => {}
            When::Now => {
                if let Some(room) = me.upgrade() {
                    room.do_send(Flush);
                }
            }
            When::Later(after) => {
                actix::spawn(async move {
                    tokio::time::sleep(after).await;
                    if let Some(room) = me.upgrade() {
                        room.do_send(Flush);
                    }
                });
            }
        }
    }

    /// Sends the batch to every socket now; drops those that are too slow or gone. Called before
    /// anything that must come after the room's frames so far: a welcome (its `last_seq`), a
    /// replay, a close.
    pub(super) fn flush(&mut self) {
        let Some((wire, frames)) = self.batch.take(std::time::Instant::now()) else { return };
        let mut dead = Vec::new();
        for (id, s) in &self.sessions {
            if !s.handle.push_wire(&wire, frames) {
                dead.push(*id);
            }
        }
        for id in dead {
            self.drop_session(id);
        }
    }
}

/// The room's batch is due (see `Room::fan_out`).
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

impl Handler<Flush> for Room {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) {
        self.flush();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_room_sends_at_once_and_a_busy_one_waits_for_its_window() {
        let mut b = Batch::new(Duration::from_millis(50));
        let t0 = Instant::now();
        let f = ByteString::from_static(r#"{"type":"chat"}"#);
        assert_eq!(b.add(&f, 10_000, t0), When::Now, "the first frame goes at once");
        assert_eq!(b.add(&f, 10_000, t0), When::Scheduled, "with it, what comes before the flush");
        let (wire, n) = b.take(t0).unwrap();
        assert_eq!(n, 2);
        assert_eq!(&wire[..2], &[0x81, f.len() as u8], "an unmasked final text frame");
        assert_eq!(&wire[2..2 + f.len()], f.as_bytes());
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(b.add(&f, 10_000, t1), When::Later(Duration::from_millis(40)), "50 ms window for 10,000");
        assert_eq!(b.add(&f, 10_000, t1), When::Scheduled);
        let (wire, n) = b.take(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!((n, wire.len()), (2, 2 * (2 + f.len())), "both frames in one buffer");
        assert!(b.take(t0 + Duration::from_millis(51)).is_none());
        // 200 sockets: a 1 ms window; 2,000: 10 ms.
        let t2 = t0 + Duration::from_millis(50) + Duration::from_micros(400);
        assert_eq!(b.add(&f, 200, t2), When::Later(Duration::from_micros(600)));
        b.take(t2);
        assert_eq!(b.add(&f, 2_000, t2 + Duration::from_millis(4)), When::Later(Duration::from_millis(6)));
        // Long after the last flush: at once again.
        let mut b = Batch::new(Duration::from_millis(50));
        b.add(&f, 10, t0);
        b.take(t0);
        assert_eq!(b.add(&f, 10, t0 + Duration::from_millis(1)), When::Now);
        // No window: every frame at once.
        let mut b = Batch::new(Duration::ZERO);
        b.add(&f, 10_000, t0);
        b.take(t0);
        assert_eq!(b.add(&f, 10_000, t0), When::Now);
    }
}
