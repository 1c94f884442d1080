//! Notices to one user (`gift_failed`, `rain_credited`, `order_paid`, `order_expired`): pushed to
//! each of the user's sockets, kept unacked for 10 minutes (replayed on the next `welcome`), and
//! sent once more when no `ack` came within `notice.retry_after_ms`.
//!
//! The second send is a timer in this process, not a durable job: it can only reach sockets on
//! this process, and after a restart there are none until they reconnect, when `welcome`
//! replays every unacked notice anyway. (It was a job through the SQL outbox: one more
//! transaction per notice, which capped a red-packet rain at about 3,500 grabs a second.)

use super::frames;
use super::hub::UserHub;
use crate::clock::now_ms;
use crate::storage::kv::Kv;
use crate::storage::queue::{Job, JobHandler};
use bytestring::ByteString;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const RETRY_JOB: &str = "notice_retry";
/// How long an unacked notice is kept for replay.
const KEEP: Duration = Duration::from_secs(600);

/// Delivers a notice to the user's sockets on the other nodes (a cluster; set once at start).
pub trait Relay: Send + Sync + 'static {
    fn elsewhere(&self, user_id: i64, frame: &ByteString);
}

#[derive(Clone)]
pub struct Notices {
    pub hub: UserHub,
    kv: Arc<dyn Kv>,
    retry_after: Duration,
    relay: Arc<std::sync::OnceLock<Arc<dyn Relay>>>,
}

fn key(user_id: i64) -> String {
    crate::storage::kv::keys::notices(user_id)
}

impl Notices {
    pub fn new(hub: UserHub, kv: Arc<dyn Kv>, retry_after: Duration) -> Self {
        Self { hub, kv, retry_after, relay: Arc::default() }
    }

    /// From now on notices reach the user's sockets on the other nodes too.
    pub fn relay_with(&self, relay: Arc<dyn Relay>) {
        let _ = self.relay.set(relay);
    }

    /// To the user's sockets here and, in a cluster, on the other nodes.
    fn deliver(&self, user_id: i64, frame: &ByteString) {
        self.hub.deliver(user_id, frame);
        if let Some(r) = self.relay.get() {
            r.elsewhere(user_id, frame);
        }
    }

    /// Sends a notice of `kind` with `fields` (merged beside `id` and `kind`); returns its id.
    /// Notices stay untyped: they go to one user, not to a room, are stored in the key-value
    /// store as their encoded frame, and each kind (`gift_failed`, `rain_credited`, `order_*`)
    /// carries its own fields, merged flat beside `id` and `kind`.
    pub async fn send(&self, user_id: i64, kind: &str, fields: Value) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut data = json!({"id": id, "kind": kind});
        if let (Some(d), Value::Object(f)) = (data.as_object_mut(), fields) {
            d.extend(f);
        }
        let frame = frames::encode("notice", None, Some(&data));
        let stored = json!({"at": now_ms(), "frame": frame.to_string()}).to_string();
        self.kv.hset(&key(user_id), &id, &stored, Some(KEEP)).await?;
        self.deliver(user_id, &frame);
        let (me, retry_id) = (self.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(me.retry_after).await;
            if let Err(e) = me.resend(user_id, &retry_id).await {
                tracing::debug!(user_id, error = %e, "notice not resent");
            }
        });
        Ok(id)
    }

    /// The user acknowledged a notice: it is neither resent nor replayed.
    pub async fn ack(&self, user_id: i64, id: &str) -> anyhow::Result<()> {
        if id.len() <= 64 {
            self.kv.hdel(&key(user_id), id).await?;
        }
        Ok(())
    }

    /// Unacked notices of the last 10 minutes, oldest first.
    pub async fn pending(&self, user_id: i64) -> anyhow::Result<Vec<ByteString>> {
        let all = self.kv.hgetall(&key(user_id)).await?;
        let cutoff = now_ms() - KEEP.as_millis() as i64;
        let mut v: Vec<(i64, String)> = all
            .into_values()
            .filter_map(|s| serde_json::from_str::<Value>(&s).ok())
            .filter_map(|v| Some((v["at"].as_i64()?, v["frame"].as_str()?.to_owned())))
            .filter(|(at, _)| *at >= cutoff)
            .collect();
        v.sort_by_key(|(at, _)| *at);
        Ok(v.into_iter().map(|(_, f)| ByteString::from(f)).collect())
    }
}

impl Notices {
    /// Sends the notice once more if it is still unacked.
    async fn resend(&self, user_id: i64, id: &str) -> anyhow::Result<()> {
        if let Some(stored) = self.kv.hget(&key(user_id), id).await? {
            if let Some(frame) =
                serde_json::from_str::<Value>(&stored).ok().and_then(|v| v["frame"].as_str().map(str::to_owned))
            {
                self.deliver(user_id, &ByteString::from(frame));
            }
        }
        Ok(())
    }
}

/// Retry jobs an earlier version left in the outbox or the queue: still sent once more.
pub struct RetryHandler(pub Notices);

#[async_trait::async_trait]
impl JobHandler for RetryHandler {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        let (Some(user_id), Some(id)) = (job.payload["user_id"].as_i64(), job.payload["id"].as_str()) else {
            return Ok(()); // malformed: nothing to do
        };
        self.0.resend(user_id, id).await
    }
}
