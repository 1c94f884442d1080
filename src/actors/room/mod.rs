//! The room actor: owns one live room's state and its connected sockets. Every command that
//! touches the room is a message, applied one at a time, so there are no locks. Broadcasts are
//! encoded once, as WebSocket frames, batched when they come fast (`batch`), and `try_send` into
//! each socket's bounded queue; a full queue drops that viewer.

mod batch;
mod combo;
mod entered;
mod history;
mod link;
mod messages;

pub use entered::Entered;
pub use link::{
    BecomeHome, ChatAs, Counts, HomeState, KickHere, LiveNodes, Moderate, RecordFor, Recorded, Role, RoomLink,
    StepDown, TakeState, Unnumbered,
};
pub use messages::*;

use super::frames;
use super::hub::SocketHandle;
use crate::clock::{now_ms, rfc3339};
use crate::domain::chat::WordFilter;
use crate::domain::events::{ChatLine, PkProgress, PkStarted, RoomEvent, StockChanged};
use crate::domain::pk::PkView;
use crate::domain::ratelimit::WindowCounter;
use crate::domain::redpacket::RainView;
pub use crate::domain::user::{AnchorRef, UserRef};
use crate::settings::RoomSettings;
use actix::prelude::*;
use batch::Batch;
use bytestring::ByteString;
use combo::Combos;
use history::History;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a room knows about itself; rebuilt from storage after a restart.
#[derive(Debug, Clone, Serialize)]
pub struct RoomInfo {
    pub id: i64,
    pub title: String,
    pub kind: String,
    pub anchor: AnchorRef,
    pub started_at: i64,
    pub slow_mode_s: i64,
}

/// What the room shares with its registry: live counts read by the room list, and whether the
/// room is closing.
#[derive(Default)]
pub struct RoomGauges {
    pub online: AtomicI64,
    /// Set once the room's row is closed: by the close as soon as the row is (before it ends
    /// the PK and rain and then closes the actor), and by the actor itself when it closes or
    /// restarts to find the row closed. Never cleared (a room id is never reopened). The
    /// registry hands a closing room to nobody (`RoomRegistry::live`), so a gift refuses it
    /// without reading the row.
    pub closed: AtomicBool,
}

/// Everything a room needs from outside.
#[derive(Clone)]
pub struct RoomDeps {
    pub db: DatabaseConnection,
    pub settings: Arc<RoomSettings>,
    pub filter: Arc<WordFilter>,
    /// False when `limits.enabled=false` (load tests): no per-user chat rate limit.
    pub limits: bool,
}

/// A chat as `welcome.recent` lists it: its frame as an object.
#[derive(Clone, Serialize)]
struct RecentChat {
    data: ChatLine,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

struct Session {
    user: UserRef,
    handle: SocketHandle,
}

pub struct Room {
    info: RoomInfo,
    deps: RoomDeps,
    gauges: Arc<RoomGauges>,
    closed: bool,
    /// Who waits for the room to close here (`CloseWithin`); told by `close_here`.
    on_closed: Vec<tokio::sync::oneshot::Sender<()>>,
    sessions: HashMap<u64, Session>,
    /// Connected sockets per user: `online` counts distinct users.
    users: HashMap<i64, u32>,
    history: History<RecentChat>,
    likes: u64,
    likes_dirty: bool,
    online_dirty: bool,
    /// Who entered since the last `entered` snapshot (a mirror: since it last reported).
    entered: Entered,
    chat_windows: HashMap<i64, WindowCounter>,
    last_chat_ms: HashMap<i64, i64>,
    /// Muted users and when their mute ends (ms).
    mutes: HashMap<i64, i64>,
    /// The PK beside the room, shown in `welcome`.
    pk: Option<PkView>,
    /// The rain beside the room, shown in `welcome`.
    rain: Option<RainView>,
    /// Coins each gifter gave in this live session: `(nickname, coins)` by user id.
    ranking: HashMap<i64, (String, i64)>,
    /// Live stock of products on sale here, `(left, version)`: a hint for fast `sold_out`
    /// answers (orders check the database before refusing on it).
    stock: HashMap<i64, (i64, i64)>,
    /// Products whose `stock` event waits for the next tick, and when each was last sent.
    stock_dirty: HashMap<i64, i64>,
    stock_sent_ms: HashMap<i64, i64>,
    tick: Option<SpawnHandle>,
    /// One node, or this room's home or a mirror of it in a cluster (`link`).
    role: Role,
    /// Home: distinct viewers on each other node, as their mirrors last reported.
    remote_online: HashMap<String, usize>,
    /// Mirror: the room's total online, as the home last announced it.
    home_online: Option<usize>,
    /// Mirror: the highest lease epoch of the home's frames so far; frames stamped with a
    /// lower one come from a home that lost the room, and are dropped.
    epoch_seen: u64,
    /// Mirror: likes received here and not yet passed to the home.
    likes_pending: u64,
    /// Mirror: ticks since it last reported its counts to the home.
    ticks_since_report: u32,
    /// The room's frames not sent yet.
    batch: Batch,
    /// Gifts that wait to go as one frame per combo (home and single node).
    combos: Combos,
    /// The room's own address, to flush its batch later (weak: it does not keep the room up).
    me: Option<actix::WeakAddr<Room>>,
}

impl Room {
    pub fn new(info: RoomInfo, deps: RoomDeps, gauges: Arc<RoomGauges>) -> Self {
        let history = History::new(deps.settings.history_size, deps.settings.recent_chats);
        let batch = Batch::new(Duration::from_millis(deps.settings.batch_max_ms));
        let combos =
            Combos::new(Duration::from_millis(deps.settings.gift_combo_max_ms), deps.settings.gift_combo_min_viewers);
        Self {
            info,
            deps,
            gauges,
            closed: false,
            on_closed: Vec::new(),
            sessions: HashMap::new(),
            users: HashMap::new(),
            history,
            likes: 0,
            likes_dirty: false,
            online_dirty: false,
            entered: Entered::default(),
            chat_windows: HashMap::new(),
            last_chat_ms: HashMap::new(),
            mutes: HashMap::new(),
            pk: None,
            rain: None,
            ranking: HashMap::new(),
            stock: HashMap::new(),
            stock_dirty: HashMap::new(),
            stock_sent_ms: HashMap::new(),
            tick: None,
            role: Role::Single,
            remote_online: HashMap::new(),
            home_online: None,
            epoch_seen: 0,
            likes_pending: 0,
            ticks_since_report: 0,
            batch,
            combos,
            me: None,
        }
    }

    /// The room's place in a cluster (`link`); `Role::Single` by default.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Distinct viewers in the room: on one node, here; on a home, here and on every mirror;
    /// on a mirror, what the home last announced (or, before that, here).
    fn online(&self) -> usize {
        match self.role {
            Role::Mirror(_) => self.home_online.unwrap_or(self.users.len()),
            _ => self.users.len() + self.remote_online.values().sum::<usize>(),
        }
    }

    /// The contract's `room` object, for `welcome` only. It stays a JSON object: its keys come
    /// out sorted (`anchor` too, whose struct order differs), which is the contract's bytes, and
    /// it never leaves this process on its own (`welcome` is built per socket, not an event).
    fn room_json(&self) -> Value {
        json!({
            "id": self.info.id,
            "title": self.info.title,
            "kind": self.info.kind,
            "status": if self.closed { "closed" } else { "live" },
            "anchor": self.info.anchor,
            "online": self.online(),
            "started_at": rfc3339(self.info.started_at),
        })
    }

    /// Numbers, records and sends a room event; returns its seq.
    fn publish(&mut self, event: RoomEvent) -> u64 {
        self.record(event, None)
    }

    /// Publishes a viewer's chat line: recorded as a chat too (`welcome.recent`, deletable).
    fn publish_chat(&mut self, line: ChatLine) -> u64 {
        let recent = line.clone();
        self.record(RoomEvent::Chat(line), Some(recent))
    }

    /// Numbers, stores and sends an event; returns its seq. A mirror numbers nothing: the event
    /// goes to the room's home, and comes back numbered like every other (`link::Recorded`);
    /// it returns 0 then.
    fn record(&mut self, event: RoomEvent, chat: Option<ChatLine>) -> u64 {
        if let Role::Mirror(link) = &self.role {
            link.record(self.info.id, event, chat);
            return 0;
        }
        if matches!(event, RoomEvent::PkEnded(_) | RoomEvent::RoomClosed(_)) {
            // Every gift paid so far shows before them.
            self.publish_held_gifts();
        }
        if let RoomEvent::PkStarted(PkStarted { pk }) | RoomEvent::PkProgress(PkProgress { pk }) = &event {
            self.pk = Some(pk.clone());
        } else if let RoomEvent::PkEnded(e) = &event {
            self.pk = Some(e.pk.clone());
        }
        let seq = self.history.last_seq() + 1;
        let frame = frames::event(seq, &event);
        if let Role::Home(link) = &self.role {
            link.recorded(self.info.id, seq, &frame, chat.as_ref());
        }
        self.history.push(seq, frame.clone(), chat.map(|data| RecentChat { data, seq, kind: "chat" }));
        self.fan_out(&frame);
        seq
    }

    /// Sends an un-numbered snapshot (`online`, `likes`) to this node's sockets and, on a home,
    /// to the mirrors'.
    fn snapshot_out(&mut self, frame: &ByteString) {
        if let Role::Home(link) = &self.role {
            link.snapshot(self.info.id, frame);
        }
        self.fan_out(frame);
    }

    fn add_session(&mut self, user: UserRef, handle: SocketHandle) {
        let sockets = self.users.entry(user.id).or_default();
        *sockets += 1;
        // A user's first socket here, not the anchor: the room sees them enter.
        if *sockets == 1 && user.id != self.info.anchor.id {
            self.entered.add(user.clone());
        }
        self.sessions.insert(handle.id, Session { user, handle });
        self.online_changed();
    }

    fn drop_session(&mut self, id: u64) {
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(n) = self.users.get_mut(&s.user.id) {
                *n -= 1;
                if *n == 0 {
                    self.users.remove(&s.user.id);
                }
            }
            self.online_changed();
        }
    }

    fn online_changed(&mut self) {
        self.online_dirty = true;
        self.gauges.online.store(self.online() as i64, Ordering::Relaxed);
    }

    fn close_user(&mut self, user_id: i64, code: u16) {
        self.flush();
        let ids: Vec<u64> = self.sessions.iter().filter(|(_, s)| s.user.id == user_id).map(|(id, _)| *id).collect();
        for id in ids {
            if let Some(s) = self.sessions.get(&id) {
                s.handle.kill.fire(code);
            }
            self.drop_session(id);
        }
    }

    /// Once a second: coalesced `online`, `likes` and `entered` snapshots, and the queue-depth
    /// gauge.
    /// Those two frames have no `seq` and are not recorded: they are snapshots, not room events.
    fn on_tick(&mut self) {
        if let Role::Mirror(link) = &self.role {
            // The home counts the room: a mirror reports its viewers when they change (and now
            // and then, so a new home hears of them) and passes its likes on.
            self.ticks_since_report += 1;
            if self.online_dirty || self.likes_pending > 0 || self.ticks_since_report >= 5 {
                let entered = std::mem::take(&mut self.entered);
                link.counts(self.info.id, self.users.len(), std::mem::take(&mut self.likes_pending), entered);
                self.online_dirty = false;
                self.ticks_since_report = 0;
            }
        } else {
            if self.online_dirty {
                self.online_dirty = false;
                let f = frames::encode("online", None, Some(&json!({"count": self.online()})));
                self.snapshot_out(&f);
                if let Role::Home(link) = &self.role {
                    link.online(self.info.id, self.online());
                }
            }
            if self.likes_dirty {
                self.likes_dirty = false;
                let f = frames::encode("likes", None, Some(&json!({"total": self.likes})));
                self.snapshot_out(&f);
            }
            if !self.entered.is_empty() {
                let f = frames::encode("entered", None, Some(&std::mem::take(&mut self.entered)));
                self.snapshot_out(&f);
            }
        }
        let dirty: Vec<(i64, i64)> = self.stock_dirty.drain().collect();
        for (pid, left) in dirty {
            self.stock_sent_ms.insert(pid, now_ms());
            self.publish(StockChanged { left, product_id: pid }.into());
        }
        let deepest = self.sessions.values().map(|s| s.handle.depth()).max().unwrap_or(0) as i64;
        if deepest > crate::metrics::QUEUE_DEPTH.get() {
            crate::metrics::QUEUE_DEPTH.set(deepest);
        }
        let now = now_ms();
        self.mutes.retain(|_, until| *until > now);
        // Per-user chat state of users who left is not kept.
        let users = &self.users;
        self.chat_windows.retain(|u, _| users.contains_key(u));
        let slow_ms = self.info.slow_mode_s * 1000;
        self.last_chat_ms.retain(|u, at| users.contains_key(u) || now - *at < slow_ms);
    }

    /// Rebuilds the gift ranking from storage; commands wait until it is loaded.
    fn load_ranking(&mut self, ctx: &mut Context<Self>) {
        let db = self.deps.db.clone();
        let id = self.info.id;
        ctx.wait(async move { crate::storage::gifts::ranking(&db, id).await }.into_actor(self).map(|res, act, _| {
            match res {
                Ok(rows) => {
                    act.ranking = rows.into_iter().map(|(id, name, coins)| (id, (name, coins))).collect();
                }
                Err(e) => tracing::error!(room = act.info.id, error = %e, "loading the gift ranking failed"),
            }
        }));
    }

    /// Reloads the room's mutes that have not ended (they outlive a restart); commands wait
    /// until they are loaded, so a muted user cannot slip a chat in first.
    fn load_mutes(&mut self, ctx: &mut Context<Self>) {
        let db = self.deps.db.clone();
        let id = self.info.id;
        ctx.wait(async move { crate::storage::mutes::active(&db, id).await }.into_actor(self).map(|res, act, _| {
            match res {
                Ok(rows) => act.mutes.extend(rows),
                Err(e) => tracing::error!(room = act.info.id, error = %e, "loading the mutes failed"),
            }
        }));
    }

    fn start_tick(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.tick.take() {
            ctx.cancel_future(h);
        }
        self.tick = Some(ctx.run_interval(Duration::from_secs(1), |act, _| act.on_tick()));
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Commands queue up while a slow viewer is being dropped; keep the mailbox roomy.
        ctx.set_mailbox_capacity(4096);
        self.me = Some(ctx.address().downgrade());
        if !self.closed {
            crate::metrics::ROOMS.inc();
            self.start_tick(ctx);
            self.load_ranking(ctx);
            self.load_mutes(ctx);
            self.start_linked(ctx);
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if !self.closed {
            crate::metrics::ROOMS.dec();
        }
        if let Role::Mirror(link) = &self.role {
            link.unfollow(self.info.id);
        }
    }
}

impl actix::Supervised for Room {
    /// After a failure: reload what storage knows (title, slow mode, status), keep the sockets,
    /// and tell every viewer to `resync`, since events may have been lost.
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        tracing::warn!(room = self.info.id, "room actor restarting");
        self.history.clear();
        let db = self.deps.db.clone();
        let id = self.info.id;
        ctx.wait(async move { crate::storage::rooms::find(&db, id).await }.into_actor(self).map(|res, act, _ctx| {
            match res {
                Ok(Some(r)) => {
                    act.info.title = r.title;
                    act.info.slow_mode_s = r.slow_mode_s as i64;
                    act.closed = r.status != crate::domain::room::LIVE;
                }
                Ok(None) => act.closed = true,
                Err(e) => tracing::error!(room = act.info.id, error = %e, "room reload failed; keeping last state"),
            }
            if act.closed {
                act.gauges.closed.store(true, Ordering::Release);
            }
            let f = frames::bare("resync");
            act.fan_out(&f);
        }));
    }
}
