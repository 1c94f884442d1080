//! Sockets as the rooms see them: a bounded queue filled with `try_send` (a room never waits on
//! a viewer) and a kill switch that closes the socket with a code. Plus the index of every
//! user's sockets on this node, for notices.

use bytes::Bytes;
use bytestring::ByteString;
use futures_util::task::AtomicWaker;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tokio::sync::mpsc;

/// Close codes of the contract.
pub mod close {
    /// RFC 6455 Going Away: the server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    pub const HEARTBEAT: u16 = 4000;
    pub const TOO_SLOW: u16 = 4001;
    pub const KICKED: u16 = 4003;
    pub const ROOM_CLOSED: u16 = 4004;
    pub const TICKET: u16 = 4401;
    /// RFC 6455 policy violation: the socket kept sending past its frame budget.
    pub const POLICY: u16 = 1008;
}

/// Asks a socket's task to close with a code; the first code wins. One task waits on it (the
/// socket's own), polling it on every turn of its loop: an atomic and a waker slot, no lock.
#[derive(Default)]
pub struct Kill {
    code: AtomicU16,
    waker: AtomicWaker,
}

impl Kill {
    pub fn fire(&self, code: u16) {
        if self.code.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.waker.wake();
        }
    }
    pub fn code(&self) -> u16 {
        self.code.load(Ordering::Acquire)
    }
    /// Resolves with the code once fired (at once if it already was).
    pub fn fired(&self) -> impl std::future::Future<Output = u16> + '_ {
        std::future::poll_fn(move |cx| {
            if let c @ 1.. = self.code() {
                return Poll::Ready(c);
            }
            self.waker.register(cx.waker());
            match self.code() {
                0 => Poll::Pending,
                c => Poll::Ready(c),
            }
        })
    }
}

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

/// What a socket's queue holds.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// One JSON frame for this socket (a reply, a notice, a replayed event): the socket encodes
    /// it as a WebSocket frame.
    Text(ByteString),
    /// The room's frames, already encoded as WebSocket frames and shared by every socket of the
    /// room (see `room::batch`): written as they are.
    Wire(Bytes),
}

/// The room's handle on one socket.
#[derive(Clone)]
pub struct SocketHandle {
    pub id: u64,
    pub user_id: i64,
    /// The room the socket is in: the per-room socket cap counts by it.
    pub room_id: i64,
    tx: mpsc::Sender<Outbound>,
    pub kill: Arc<Kill>,
}

impl SocketHandle {
    /// A handle and the receiving end of its queue (the socket task reads it).
    pub fn new(user_id: i64, room_id: i64, queue: usize) -> (Self, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let id = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
        (Self { id, user_id, room_id, tx, kill: Arc::new(Kill::default()) }, rx)
    }

    /// Queues a frame for this socket only; see [`SocketHandle::send`].
    pub fn push(&self, frame: &ByteString) -> bool {
        self.send(Outbound::Text(frame.clone()), 1)
    }

    /// Queues `frames` of the room's, encoded and shared; see [`SocketHandle::send`].
    pub fn push_wire(&self, wire: &Bytes, frames: usize) -> bool {
        self.send(Outbound::Wire(wire.clone()), frames)
    }

    /// Queues without waiting. A full queue marks the viewer as too slow: the socket is closed
    /// with 4001 and the caller drops it. Returns false when the socket is gone.
    fn send(&self, out: Outbound, frames: usize) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => {
                crate::metrics::FRAMES_OUT.inc_by(frames as u64);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                crate::metrics::SLOW_CLOSES.inc();
                self.kill.fire(close::TOO_SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Frames waiting in this socket's queue.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn is_dead(&self) -> bool {
        self.kill.code() != 0 || self.tx.is_closed()
    }
}

/// How many sockets one user may hold on this node.
#[derive(Debug, Clone, Copy)]
pub struct SocketCaps {
    pub per_room: usize,
    pub per_user: usize,
}

impl SocketCaps {
    pub const NONE: Self = Self { per_room: usize::MAX, per_user: usize::MAX };
}

/// Every socket of every user on this node.
#[derive(Clone, Default)]
pub struct UserHub {
    map: Arc<RwLock<HashMap<i64, Vec<SocketHandle>>>>,
}

impl UserHub {
    pub fn add(&self, h: &SocketHandle) {
        self.map.write().entry(h.user_id).or_default().push(h.clone());
    }

    /// Adds the socket unless its user already holds as many as `caps` allow (counted and
    /// added under one lock, so parallel handshakes cannot both take the last place); the
    /// error says which cap was hit.
    pub fn try_add(&self, h: &SocketHandle, caps: SocketCaps) -> Result<(), &'static str> {
        let mut m = self.map.write();
        let v = m.entry(h.user_id).or_default();
        let refused = Self::refusal(v, h.room_id, caps);
        if refused.is_none() {
            v.push(h.clone());
        } else if v.is_empty() {
            m.remove(&h.user_id);
        }
        refused.map_or(Ok(()), Err)
    }

    /// Whether one more socket of `user_id` in `room_id` would pass `caps` (a hint for `/im`;
    /// the handshake's `try_add` decides).
    pub fn check(&self, user_id: i64, room_id: i64, caps: SocketCaps) -> Result<(), &'static str> {
        let m = self.map.read();
        m.get(&user_id).and_then(|v| Self::refusal(v, room_id, caps)).map_or(Ok(()), Err)
    }

    fn refusal(v: &[SocketHandle], room_id: i64, caps: SocketCaps) -> Option<&'static str> {
        if v.len() >= caps.per_user {
            Some("too many open sockets for this user")
        } else if v.iter().filter(|x| x.room_id == room_id).count() >= caps.per_room {
            Some("too many open sockets for this user in this room")
        } else {
            None
        }
    }

    pub fn remove(&self, h: &SocketHandle) {
        let mut m = self.map.write();
        if let Some(v) = m.get_mut(&h.user_id) {
            v.retain(|x| x.id != h.id);
            if v.is_empty() {
                m.remove(&h.user_id);
            }
        }
    }

    /// Pushes a frame to each of the user's sockets; how many took it.
    pub fn deliver(&self, user_id: i64, frame: &ByteString) -> usize {
        let m = self.map.read();
        m.get(&user_id).map(|v| v.iter().filter(|h| h.push(frame)).count()).unwrap_or(0)
    }

    /// Tells every socket on this node to close with `code` (the server is stopping).
    pub fn close_all(&self, code: u16) {
        for h in self.map.read().values().flatten() {
            h.kill.fire(code);
        }
    }

    pub fn sockets(&self) -> usize {
        self.map.read().values().map(Vec::len).sum()
    }
}
