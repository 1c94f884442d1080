//! This node among the others (`cluster.enabled`): it joins the membership at start, renews it
//! every `cluster.renew_ms`, and keeps the live members it last saw for whoever asks (`/api/health`
//! lists them; room homes are chosen among them). A clean stop leaves at once; a node that
//! dies lapses after `cluster.expire_ms`.
//!
//! It also carries rooms across nodes (`actors::room::link`): the home's frames to the mirrors
//! on the room's channel, and a mirror's chats and events to the home on the home's node
//! channel, with the home's answer back on the asker's (`serve`, `Link`).

use crate::actors::room::{self, Role, RoomLink};
use crate::domain::error::ErrorCode;
use crate::settings::Settings;
use crate::storage::bus::{Bus, Heard};
use crate::storage::members::{Member, Members};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

mod forward;
mod link;
mod wire;

use link::{Link, NoticeRelay};
pub use wire::OnHome;
use wire::*;

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
    /// The rooms this node last found itself home of, with the lease's epoch: stamped on every
    /// frame it publishes for them.
    led: Mutex<HashMap<i64, u64>>,
    /// Wakes the step-down check: a renewal found this node's membership had lapsed.
    lapsed: tokio::sync::Notify,
    /// Room homes as the lease script last answered, good until the live members change (a
    /// lease moves only when its holder stops being a live member): forwarding a chat or an
    /// event costs no Redis call.
    homes: Mutex<HashMap<i64, (String, u64)>>,
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
                led: Mutex::default(),
                lapsed: tokio::sync::Notify::new(),
                homes: Mutex::default(),
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
        if let Some((home, _)) = self.inner.homes.lock().get(&room) {
            return Ok(home.clone());
        }
        Ok(self.lease(room).await?.0)
    }

    /// `room`'s home and its lease's epoch (see `home_of`). When the home is this node, the
    /// epoch is kept to stamp the room's frames.
    async fn lease(&self, room: i64) -> anyhow::Result<(String, u64)> {
        for _ in 0..3 {
            let live = self.live();
            let wanted = crate::domain::cluster::rendezvous(room, live.iter().map(|m| m.id.as_str()))
                .unwrap_or(self.inner.me.as_str())
                .to_owned();
            if let Some((home, epoch)) = self.inner.members.place_home(room, &wanted).await? {
                let mut homes = self.inner.homes.lock();
                if homes.len() > 100_000 {
                    homes.clear();
                }
                homes.insert(room, (home.clone(), epoch));
                drop(homes);
                let mut led = self.inner.led.lock();
                if home == self.inner.me {
                    led.insert(room, epoch);
                } else {
                    led.remove(&room);
                }
                return Ok((home, epoch));
            }
            // Our view named a node that has lapsed since: look again after the next renewal.
            tokio::time::sleep(self.inner.renew_every).await;
        }
        anyhow::bail!("no live node would take room {room}")
    }

    /// Every live room's viewers on every node, as its home last counted them (for lists).
    pub async fn online(&self) -> std::collections::HashMap<i64, i64> {
        self.inner.members.online().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "room online counts unavailable; the list shows this node's");
            Default::default()
        })
    }

    /// One room's viewers on every node, as its home last counted them.
    pub async fn online_of(&self, room: i64) -> Option<i64> {
        self.inner.members.online_of(room).await.ok().flatten()
    }

    /// A frame of `room` stamped with a newer lease than the home this node knows: another node
    /// took the room over (before this node's view of the members changed); ask again.
    fn heard_epoch(&self, room: i64, epoch: u64) {
        let mut homes = self.inner.homes.lock();
        if homes.get(&room).is_some_and(|(_, known)| *known < epoch) {
            homes.remove(&room);
        }
    }

    /// The epoch of `room`'s lease as this node last held it (0: not held here).
    fn epoch_here(&self, room: i64) -> u64 {
        self.inner.led.lock().get(&room).copied().unwrap_or(0)
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
        if answer.is_none() {
            // The home did not answer: look it up again next time.
            self.inner.homes.lock().remove(&room);
        }
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
        self.step_down_when_lapsed(svc.clone());
        svc.notices.relay_with(Arc::new(NoticeRelay { cluster: self.clone(), presence: svc.presence.clone() }));
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(h) = heard.recv().await {
                match h {
                    Heard::Room { room, payload } => match (decode_frame(&payload), svc.rooms.get(room)) {
                        (Some(RoomHeard::Frame(rec)), Some(addr)) => {
                            me.heard_epoch(room, rec.epoch);
                            addr.do_send(rec)
                        }
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
                            if let Err(e) = super::pk::resume_here(&svc, room).await {
                                tracing::warn!(room, error = %e, "the room's PK did not resume here");
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(room, error = %e, "no new home for the room"),
                    }
                }
            }
        });
    }

    /// When a renewal finds this node's membership had lapsed (it paused, or lost Redis, past
    /// the expiry), the others may have given its rooms to other nodes meanwhile: each room it
    /// still acts as home for whose lease is now another node's steps down to a mirror of the
    /// new home (`room::StepDown`), and its PK actor is let go. Until then the frames it
    /// published were stamped with the old lease's epoch, which the mirrors drop.
    fn step_down_when_lapsed(&self, svc: super::Services) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                me.inner.lapsed.notified().await;
                let held: Vec<i64> = me.inner.led.lock().keys().copied().collect();
                for room in held {
                    match me.lease(room).await {
                        Ok((home, _)) if home != me.inner.me => {
                            tracing::warn!(room, home = %home, "this node lost the room while it was away; stepping down");
                            if let Some(a) = svc.rooms.get(room) {
                                a.do_send(room::StepDown);
                            }
                            svc.pk.let_go(room);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(room, error = %e, "cannot tell whether this node still holds the room")
                        }
                    }
                }
            }
        });
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

    /// Renews again after `halt`, as a node that paused and woke up would (tests).
    pub fn resume(&self) {
        let mut renewer = self.inner.renewer.lock();
        if renewer.is_none() {
            *renewer = Some(tokio::spawn(renew_loop(Arc::downgrade(&self.inner))));
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
                    i.homes.lock().clear();
                    i.lapsed.notify_one();
                }
                i.live.send_if_modified(|live| {
                    let changed = *live != r.live;
                    if changed {
                        tracing::info!(nodes = ?r.live.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), "cluster members changed");
                        *live = r.live;
                        i.homes.lock().clear();
                    }
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "renewing cluster membership failed"),
        }
    }
}
