//! This node among the others (`cluster.enabled`): it joins the membership at start, renews it
//! every `cluster.renew_ms`, and keeps the live members it last saw for whoever asks (`/api/health`
//! lists them; room homes are chosen among them). A clean stop leaves at once; a node that
//! dies lapses after `cluster.expire_ms`.
//!
//! It also carries rooms across nodes (`actors::room::link`): the home's frames to the mirrors
//! on the room's channel, and a mirror's chats and events to the home on the home's node
//! channel, with the home's answer back on the asker's (`serve`, `Link`).

use crate::actors::room::{self, HomeState, Refusal, Role, RoomLink};
use crate::domain::error::ErrorCode;
use crate::domain::events::{ChatLine, RoomEvent};
use crate::domain::user::UserRef;
use crate::settings::Settings;
use crate::storage::bus::{Bus, Heard};
use crate::storage::members::{Member, Members};
use bytestring::ByteString;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The cluster as this node sees it; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    me: String,
    public_url: String,
    members: Members,
    renew_every: Duration,
    expire: Duration,
    live: watch::Sender<Vec<Member>>,
    renewer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    bus: Bus,
    /// What the bus heard, until `serve` takes it.
    heard: Mutex<Option<mpsc::UnboundedReceiver<Heard>>>,
    /// Requests to other nodes waiting for their answer, by id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_id: AtomicU64,
    /// How long a request to another node may wait for its answer.
    ask_timeout: Duration,
}

impl Cluster {
    /// Joins: the first renewal must succeed, so a node that cannot reach Redis does not start.
    pub async fn join(s: &Settings) -> anyhow::Result<Self> {
        let bound = Duration::from_millis(s.backends.timeout_ms);
        let members = Members::connect(&s.redis.url, &s.redis.prefix, bound)
            .await
            .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?;
        let c = &s.cluster;
        let expire = Duration::from_millis(c.expire_ms);
        let first = members.renew(&c.node_id, &s.server.public_url, expire, false).await?;
        tracing::info!(node = %c.node_id, nodes = first.live.len(), "joined the cluster");
        let (live, _) = watch::channel(first.live);
        let (bus, heard) = Bus::connect(&s.redis.url, &s.redis.prefix, &c.node_id)
            .await
            .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?;
        let cluster = Self {
            inner: Arc::new(Inner {
                me: c.node_id.clone(),
                public_url: s.server.public_url.clone(),
                members,
                renew_every: Duration::from_millis(c.renew_ms),
                expire,
                live,
                renewer: Mutex::new(None),
                bus,
                heard: Mutex::new(Some(heard)),
                pending: Mutex::default(),
                next_id: AtomicU64::new(1),
                ask_timeout: bound.max(Duration::from_secs(2)),
            }),
        };
        let task = tokio::spawn(renew_loop(Arc::downgrade(&cluster.inner)));
        *cluster.inner.renewer.lock() = Some(task);
        Ok(cluster)
    }

    pub fn node_id(&self) -> &str {
        &self.inner.me
    }

    /// The live members at the last renewal, this node included, by id.
    pub fn live(&self) -> Vec<Member> {
        self.inner.live.borrow().clone()
    }

    /// Changes of the live members.
    pub fn watch(&self) -> watch::Receiver<Vec<Member>> {
        self.inner.live.subscribe()
    }

    /// The node that is `room`'s home: the holder of its lease while that node lives, else the
    /// live node that rendezvous hashing ranks first for the room, which is given the lease here
    /// (Redis decides, so every node asking at once gets the same answer).
    pub async fn home_of(&self, room: i64) -> anyhow::Result<String> {
        for _ in 0..3 {
            let live = self.live();
            let wanted = crate::domain::cluster::rendezvous(room, live.iter().map(|m| m.id.as_str()))
                .unwrap_or(self.inner.me.as_str())
                .to_owned();
            if let Some(home) = self.inner.members.place_home(room, &wanted).await? {
                return Ok(home);
            }
            // Our view named a node that has lapsed since: look again after the next renewal.
            tokio::time::sleep(self.inner.renew_every).await;
        }
        anyhow::bail!("no live node would take room {room}")
    }

    /// The role of a room actor this node starts: home when the cluster names this node.
    pub async fn role_for(&self, room: i64) -> anyhow::Result<Role> {
        let link: Arc<dyn RoomLink> = Arc::new(Link(self.clone()));
        Ok(if self.home_of(room).await? == self.inner.me { Role::Home(link) } else { Role::Mirror(link) })
    }

    /// Runs `cmd` on `room`'s home: here, or asked of the node that is. None: the home is
    /// moving (or did not answer in time).
    pub async fn moderate(
        &self,
        svc: &super::Services,
        r: &crate::storage::entities::rooms::Model,
        cmd: room::Moderate,
    ) -> anyhow::Result<Option<bool>> {
        let home = self.home_of(r.id).await?;
        if home == self.inner.me {
            let addr = super::live_room::room_actor(svc, r).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            return Ok(addr.send(cmd).await?);
        }
        Ok(match self.ask(&home, r.id, Ask::Moderate(cmd)).await {
            Some(Answer::Moderated(done)) => done,
            _ => None,
        })
    }

    /// The room's home when it is another node; None when it is this one.
    pub async fn elsewhere(&self, room: i64) -> super::AppResult<Option<String>> {
        let home = self.home_of(room).await.map_err(super::AppError::internal)?;
        Ok((home != self.inner.me).then_some(home))
    }

    /// Runs `call` on `home` (the room's home) and answers what it answered there: its value,
    /// or the same conflict; anything else the home met is `unavailable` here.
    pub async fn on_home(&self, home: &str, room: i64, call: OnHome) -> super::AppResult<serde_json::Value> {
        use super::AppError;
        match self.ask(home, room, Ask::OnHome(call)).await {
            Some(Answer::OnHome(Remote { ok: Some(v), .. })) => Ok(v),
            Some(Answer::OnHome(Remote { code, message, .. })) => Err(match code {
                ErrorCode::Forbidden => AppError::forbidden_as(code, message),
                ErrorCode::NotFound => AppError::NotFound("room"),
                ErrorCode::Internal | ErrorCode::Unavailable => AppError::Unavailable(message),
                code => AppError::conflict(code, message),
            }),
            _ => Err(AppError::Unavailable("the room's server did not answer; try again".into())),
        }
    }

    /// Sends `ask` about `room` to node `to` and waits for its answer (None: none in time).
    async fn ask(&self, to: &str, room: i64, ask: Ask) -> Option<Answer> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert(id, tx);
        self.send(to, &Envelope::Ask { id, from: self.inner.me.clone(), room, ask });
        let answer = tokio::time::timeout(self.inner.ask_timeout, rx).await.ok().and_then(Result::ok);
        self.inner.pending.lock().remove(&id);
        answer
    }

    fn send(&self, to: &str, e: &Envelope) {
        match serde_json::to_vec(e) {
            Ok(bytes) => self.inner.bus.to_node(to, bytes),
            Err(err) => tracing::error!(error = %err, "bus: cannot encode a request"),
        }
    }

    /// Answers what other nodes ask of this one and hands the frames of mirrored rooms to their
    /// actors, in the order heard. Runs until the bus ends.
    pub fn serve(&self, svc: super::Services) {
        let Some(mut heard) = self.inner.heard.lock().take() else { return };
        self.take_over_when_nodes_go(svc.clone());
        svc.notices.relay_with(Arc::new(NoticeRelay { cluster: self.clone(), presence: svc.presence.clone() }));
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(h) = heard.recv().await {
                match h {
                    Heard::Room { room, payload } => match (decode_frame(&payload), svc.rooms.get(room)) {
                        (Some(RoomHeard::Frame(rec)), Some(addr)) => addr.do_send(rec),
                        (Some(RoomHeard::Kick(user_id)), Some(addr)) => addr.do_send(room::KickHere { user_id }),
                        (Some(RoomHeard::Unnumbered(u)), Some(addr)) => addr.do_send(u),
                        (Some(_), None) => {}
                        (None, _) => tracing::warn!(room, "bus: a room frame that does not decode"),
                    },
                    Heard::Node { payload } => match serde_json::from_slice::<Envelope>(&payload) {
                        Ok(Envelope::Answer { id, answer }) => {
                            if let Some(tx) = me.inner.pending.lock().remove(&id) {
                                let _ = tx.send(answer);
                            }
                        }
                        Ok(Envelope::Ask { id, from, room, ask }) => me.answer(&svc, id, from, room, ask),
                        Ok(Envelope::Tell { room, tell }) => me.told(&svc, room, tell),
                        Err(e) => tracing::warn!(error = %e, "bus: a request that does not decode"),
                    },
                }
            }
        });
    }

    /// When members go, the rooms this node mirrors whose home went with them get a new home;
    /// where that is this node, its mirror takes over (`room::BecomeHome`).
    fn take_over_when_nodes_go(&self, svc: super::Services) {
        let me = self.clone();
        let mut members = self.watch();
        tokio::spawn(async move {
            let mut before: Vec<String> = members.borrow().iter().map(|m| m.id.clone()).collect();
            while members.changed().await.is_ok() {
                let now: Vec<String> = members.borrow().iter().map(|m| m.id.clone()).collect();
                let lost = before.iter().any(|id| !now.contains(id));
                before = now.clone();
                if !lost {
                    continue;
                }
                for (room, addr) in svc.rooms.all() {
                    addr.do_send(room::LiveNodes(now.clone()));
                    match me.home_of(room).await {
                        Ok(home) if home == me.inner.me => {
                            addr.do_send(room::BecomeHome);
                            if let Err(e) = super::rain::resume_here(&svc, room).await {
                                tracing::warn!(room, error = %e, "the room's rain did not resume here");
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(room, error = %e, "no new home for the room"),
                    }
                }
            }
        });
    }

    /// This node is `room`'s home: its actor (started as home when it is not running).
    async fn home_actor(svc: &super::Services, room: i64) -> Option<actix::Addr<room::Room>> {
        if let Some(a) = svc.rooms.get(room) {
            return Some(a);
        }
        let r = super::live_room::live_room(svc, room).await.ok()?;
        super::live_room::room_actor(svc, &r).await.ok()
    }

    fn answer(&self, svc: &super::Services, id: u64, from: String, room: i64, ask: Ask) {
        let me = self.clone();
        // The message is queued now, while it is in order with the others heard; only the
        // answer is awaited apart. A room not running here starts first (rare: the home's own
        // actor runs as long as anyone watches the room).
        let running = svc.rooms.get(room);
        let svc = svc.clone();
        match ask {
            Ask::Chat { user, text } => {
                let msg = room::ChatAs { user, text };
                let queued = running.map(|a| a.send(msg.clone()));
                tokio::spawn(async move {
                    let res = match queued {
                        Some(q) => q.await.ok(),
                        None => match Self::home_actor(&svc, room).await {
                            Some(a) => a.send(msg).await.ok(),
                            None => Some(Err(Refusal {
                                code: ErrorCode::RoomClosed,
                                message: "the room is closed".into(),
                                retry_after: None,
                            })),
                        },
                    };
                    let answer = Answer::Chat(res.unwrap_or_else(|| Err(unavailable())));
                    me.send(&from, &Envelope::Answer { id, answer });
                });
            }
            Ask::Moderate(cmd) => {
                let queued = running.map(|a| a.send(cmd.clone()));
                tokio::spawn(async move {
                    let done = match queued {
                        Some(q) => q.await.ok().flatten(),
                        None => match Self::home_actor(&svc, room).await {
                            Some(a) => a.send(cmd).await.ok().flatten(),
                            // A closed room: nothing left to moderate.
                            None => Some(false),
                        },
                    };
                    me.send(&from, &Envelope::Answer { id, answer: Answer::Moderated(done) });
                });
            }
            Ask::OnHome(call) => {
                tokio::spawn(async move {
                    let res = match call {
                        OnHome::StartRain { user_id } => super::rain::start(&svc, user_id, room)
                            .await
                            .and_then(|v| serde_json::to_value(v).map_err(super::AppError::internal)),
                        OnHome::Grab { user_id } => super::rain::grab(&svc, user_id, room)
                            .await
                            .and_then(|v| serde_json::to_value(v).map_err(super::AppError::internal)),
                        OnHome::Ranking => super::gifts::ranking(&svc, room)
                            .await
                            .and_then(|v| serde_json::to_value(v).map_err(super::AppError::internal)),
                    };
                    let remote = match res {
                        Ok(v) => Remote { ok: Some(v), code: ErrorCode::Internal, message: String::new() },
                        Err(e) => Remote { ok: None, code: e.code(), message: e.to_string() },
                    };
                    me.send(&from, &Envelope::Answer { id, answer: Answer::OnHome(remote) });
                });
            }
            Ask::State => {
                let queued = running.map(|a| a.send(room::TakeState));
                tokio::spawn(async move {
                    let state = match queued {
                        Some(q) => q.await.ok(),
                        None => match Self::home_actor(&svc, room).await {
                            Some(a) => a.send(room::TakeState).await.ok(),
                            None => None,
                        },
                    };
                    me.send(&from, &Envelope::Answer { id, answer: Answer::State(state) });
                });
            }
        }
    }

    fn told(&self, svc: &super::Services, room: i64, tell: Tell) {
        let (event, chat) = match tell {
            Tell::Record { event, chat } => (event, chat),
            Tell::Gift(g) => {
                match svc.rooms.get(room) {
                    Some(a) => a.do_send(g),
                    None => {
                        let svc = svc.clone();
                        tokio::spawn(async move {
                            if let Some(a) = Self::home_actor(&svc, room).await {
                                a.do_send(g);
                            }
                        });
                    }
                }
                return;
            }
            Tell::Notice { user_id, frame } => {
                svc.notices.hub.deliver(user_id, &ByteString::from(frame));
                return;
            }
            Tell::Counts { node, online, likes } => {
                // Only a running home counts; a home that starts hears again within 5 s.
                if let Some(a) = svc.rooms.get(room) {
                    a.do_send(room::Counts { node, online, likes });
                }
                return;
            }
        };
        let msg = room::RecordFor { event, chat };
        match svc.rooms.get(room) {
            Some(a) => a.do_send(msg),
            None => {
                let svc = svc.clone();
                tokio::spawn(async move {
                    if let Some(a) = Self::home_actor(&svc, room).await {
                        a.do_send(msg);
                    }
                });
            }
        }
    }

    /// A clean stop: no more renewals, and out of the membership at once. A halted node (one
    /// that was made to act dead) does not leave: it lapses.
    pub async fn leave(&self) {
        let Some(renewer) = self.inner.renewer.lock().take() else { return };
        renewer.abort();
        if let Err(e) = self.inner.members.leave(&self.inner.me).await {
            tracing::warn!(error = %e, "leaving the cluster failed; this node lapses instead");
        }
    }

    /// Stops renewing without leaving, as a node that died would (tests of node loss).
    pub fn halt(&self) {
        if let Some(t) = self.inner.renewer.lock().take() {
            t.abort();
        }
    }
}

async fn renew_loop(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(every) = inner.upgrade().map(|i| i.renew_every) else { return };
        tokio::time::sleep(every).await;
        let Some(i) = inner.upgrade() else { return };
        match i.members.renew(&i.me, &i.public_url, i.expire, true).await {
            Ok(r) => {
                if r.lapsed {
                    tracing::warn!(node = %i.me, "this node's membership had lapsed: the others took it for gone");
                }
                i.live.send_if_modified(|live| {
                    let changed = *live != r.live;
                    if changed {
                        tracing::info!(nodes = ?r.live.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), "cluster members changed");
                        *live = r.live;
                    }
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "renewing cluster membership failed"),
        }
    }
}

/// What one node asks another about a room it is home of.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    /// A viewer's chat on the asking node.
    Chat { user: UserRef, text: String },
    /// Where the room stands (a mirror starting).
    State,
    /// Moderation (or the close) asked of the asking node.
    Moderate(room::Moderate),
    /// A service call that runs on the room's home.
    OnHome(OnHome),
}

/// Calls a node makes on the room's home, where the room's rain is handed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OnHome {
    StartRain { user_id: i64 },
    Grab { user_id: i64 },
    Ranking,
}

/// A service call's answer across nodes: its value as JSON, or the contract error it gave.
#[derive(Debug, Serialize, Deserialize)]
struct Remote {
    ok: Option<serde_json::Value>,
    code: ErrorCode,
    message: String,
}

/// The answer to an `Ask`.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Chat(Result<(), Refusal>),
    State(Option<HomeState>),
    /// None: the home is moving; ask again.
    Moderated(Option<bool>),
    OnHome(Remote),
}

/// What one node tells another about a room, with no answer.
#[derive(Debug, Serialize, Deserialize)]
enum Tell {
    /// An event raised on the telling node, for the home to record.
    Record { event: RoomEvent, chat: Option<ChatLine> },
    /// The telling node's viewers of the room, and the likes it received.
    Counts { node: String, online: usize, likes: u64 },
    /// A gift paid for on the telling node, for the home to count and record.
    Gift(room::GiftEffect),
    /// A notice for the user's sockets on this node (the room is 0).
    Notice { user_id: i64, frame: String },
}

/// A message on a node's channel.
#[derive(Debug, Serialize, Deserialize)]
enum Envelope {
    Ask { id: u64, from: String, room: i64, ask: Ask },
    Answer { id: u64, answer: Answer },
    Tell { room: i64, tell: Tell },
}

fn unavailable() -> Refusal {
    Refusal {
        code: ErrorCode::Unavailable,
        message: "the room is not answering; try again".into(),
        retry_after: Some(1),
    }
}

/// What a room's channel carries.
enum RoomHeard {
    Frame(room::Recorded),
    /// An un-numbered snapshot (`online`, `likes`).
    Unnumbered(room::Unnumbered),
    /// The home kicked this user: their sockets close on every node.
    Kick(i64),
}

/// A message on a room's channel: a number (the seq; a user id for `k`), a newline, `e` (an
/// event), `r` (a resync from a home that took over), `u` (an un-numbered snapshot; the number
/// is 0) or `k` (a kick), a newline, its chat line as JSON (empty when it is not a
/// chat), a newline, then the frame's bytes exactly as the home encoded them.
fn encode_unnumbered(frame: &ByteString) -> Vec<u8> {
    let mut out = b"0\nu\n\n".to_vec();
    out.extend_from_slice(frame.as_bytes());
    out
}

fn encode_frame(seq: u64, frame: &ByteString, chat: Option<&ChatLine>, resync: bool) -> Vec<u8> {
    let chat = chat.and_then(|c| serde_json::to_vec(c).ok()).unwrap_or_default();
    let mut out = Vec::with_capacity(24 + chat.len() + frame.len());
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b'\n');
    out.push(if resync { b'r' } else { b'e' });
    out.push(b'\n');
    out.extend_from_slice(&chat);
    out.push(b'\n');
    out.extend_from_slice(frame.as_bytes());
    out
}

fn encode_kick(user_id: i64) -> Vec<u8> {
    format!("{user_id}\nk\n\n").into_bytes()
}

fn decode_frame(payload: &[u8]) -> Option<RoomHeard> {
    let mut parts = payload.splitn(4, |b| *b == b'\n');
    let number = std::str::from_utf8(parts.next()?).ok()?;
    let resync = match parts.next()? {
        b"e" => false,
        b"r" => true,
        b"k" => return Some(RoomHeard::Kick(number.parse().ok()?)),
        b"u" => {
            parts.next()?;
            let frame = ByteString::try_from(parts.next()?.to_vec()).ok()?;
            return Some(RoomHeard::Unnumbered(room::Unnumbered { frame }));
        }
        _ => return None,
    };
    let seq = number.parse().ok()?;
    let chat = parts.next()?;
    let chat = if chat.is_empty() { None } else { Some(serde_json::from_slice(chat).ok()?) };
    let frame = ByteString::try_from(parts.next()?.to_vec()).ok()?;
    Some(RoomHeard::Frame(room::Recorded { seq, frame, chat, resync }))
}

/// The cluster as a room's actor sees it (`actors::room::link`).
struct Link(Cluster);

impl RoomLink for Link {
    fn recorded(&self, room: i64, seq: u64, frame: &ByteString, chat: Option<&ChatLine>) {
        self.0.inner.bus.to_room(room, encode_frame(seq, frame, chat, false), Some(seq));
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

    fn counts(&self, room: i64, online: usize, likes: u64) {
        let c = self.0.clone();
        tokio::spawn(async move {
            if let Ok(home) = c.home_of(room).await {
                let node = c.inner.me.clone();
                c.send(&home, &Envelope::Tell { room, tell: Tell::Counts { node, online, likes } });
            }
        });
    }

    fn kicked(&self, room: i64, user: i64) {
        self.0.inner.bus.to_room(room, encode_kick(user), None);
    }

    fn resynced(&self, room: i64, seq: u64) {
        let frame = crate::actors::frames::bare("resync");
        self.0.inner.bus.to_room(room, encode_frame(seq, &frame, None, true), Some(seq));
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
        let c = self.0.clone();
        tokio::spawn(async move {
            match c.home_of(room).await {
                Ok(home) => c.send(&home, &Envelope::Tell { room, tell: Tell::Gift(gift) }),
                Err(e) => tracing::warn!(room, error = %e, "a gift's effect for the room's home is lost"),
            }
        });
    }

    fn record(&self, room: i64, event: RoomEvent, chat: Option<ChatLine>) {
        let c = self.0.clone();
        tokio::spawn(async move {
            match c.home_of(room).await {
                Ok(home) => c.send(&home, &Envelope::Tell { room, tell: Tell::Record { event, chat } }),
                Err(e) => tracing::warn!(room, error = %e, "an event for the room's home is lost"),
            }
        });
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
struct NoticeRelay {
    cluster: Cluster,
    presence: crate::actors::presence::Presence,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_room_frame_crosses_the_bus_unchanged() {
        let frame = ByteString::from(r#"{"type":"chat","seq":7,"data":{"text":"a\nb"}}"#);
        let chat = ChatLine {
            at: "2026-11-30T00:00:00Z".into(),
            from: UserRef { id: 3, nickname: "x".into() },
            text: "a\nb".into(),
        };
        let Some(RoomHeard::Frame(r)) = decode_frame(&encode_frame(7, &frame, Some(&chat), false)) else { panic!() };
        assert_eq!((r.seq, &r.frame, r.chat.as_ref(), r.resync), (7, &frame, Some(&chat), false));
        let Some(RoomHeard::Frame(r)) = decode_frame(&encode_frame(8, &frame, None, true)) else { panic!() };
        assert_eq!((r.seq, r.chat, r.resync), (8, None, true));
        assert!(matches!(decode_frame(&encode_kick(42)), Some(RoomHeard::Kick(42))));
        let Some(RoomHeard::Unnumbered(u)) = decode_frame(&encode_unnumbered(&frame)) else { panic!() };
        assert_eq!(u.frame, frame);
        assert!(decode_frame(b"7\nx\n\n{}").is_none());
    }
}
