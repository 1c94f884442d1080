//! This node among the others (`cluster.enabled`): it joins the membership at start, renews it
//! every `cluster.renew_ms`, and keeps the live members it last saw for whoever asks (`/api/health`
//! lists them; room homes will be chosen among them). A clean stop leaves at once; a node that
//! dies lapses after `cluster.expire_ms`.

use crate::settings::Settings;
use crate::storage::members::{Member, Members};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
        let cluster = Self {
            inner: Arc::new(Inner {
                me: c.node_id.clone(),
                public_url: s.server.public_url.clone(),
                members,
                renew_every: Duration::from_millis(c.renew_ms),
                expire,
                live,
                renewer: Mutex::new(None),
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

    /// A clean stop: no more renewals, and out of the membership at once.
    pub async fn leave(&self) {
        self.halt();
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
