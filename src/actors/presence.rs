//! Presence in the key-value store: which node each user's sockets are on and how many sockets
//! each room has per node. One node reads its own counts from the room actors; these records
//! are the seam for several nodes (DESIGN.md "Scaling"): a room's online count across nodes is
//! the sum of its hash, and a notice for a user goes to the nodes listed for them.

use crate::storage::kv::keys;
use crate::storage::kv::Kv;
use std::collections::HashMap;
use std::sync::Arc;

/// How long presence records live after their last change.
const TTL: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Clone)]
pub struct Presence {
    kv: Arc<dyn Kv>,
    /// This process's id in the records.
    pub node: String,
}

impl Presence {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self::new_as(kv, uuid::Uuid::new_v4().simple().to_string()[..12].to_owned())
    }

    /// As node `node` (a cluster's `cluster.node_id`, so the other nodes can find its sockets).
    pub fn new_as(kv: Arc<dyn Kv>, node: String) -> Self {
        Self { kv, node }
    }

    /// A socket of `user` joined `room` (+1) or left it (-1). Off the hot path: spawned, and a
    /// failure only logs (the room actor's own count stays right).
    pub fn changed(&self, room: i64, user: i64, by: i64) {
        let this = self.clone();
        tokio::spawn(async move {
            let room_key = keys::presence_room(room);
            let user_key = keys::presence_user(user);
            let r = this.kv.hincr(&room_key, &this.node, by).await;
            let u = this.kv.hincr(&user_key, &this.node, by).await;
            // Records of a node that died (or a late update) do not stay for ever.
            let t1 = this.kv.expire(&room_key, TTL).await;
            let t2 = this.kv.expire(&user_key, TTL).await;
            if let Err(e) = r.and(u).and(t1).and(t2) {
                tracing::warn!(error = %e, "presence update failed");
            }
        });
    }

    /// Sockets per node in a room.
    pub async fn room(&self, room: i64) -> anyhow::Result<HashMap<String, i64>> {
        let all = self.kv.hgetall(&keys::presence_room(room)).await?;
        Ok(all
            .into_iter()
            .filter_map(|(n, c)| Some((n, c.parse().ok()?)))
            .filter(|(_, c): &(String, i64)| *c > 0)
            .collect())
    }

    /// Nodes that hold sockets of `user`.
    pub async fn user_nodes(&self, user: i64) -> anyhow::Result<Vec<String>> {
        let all = self.kv.hgetall(&keys::presence_user(user)).await?;
        Ok(all.into_iter().filter(|(_, c)| c.parse::<i64>().is_ok_and(|c| c > 0)).map(|(n, _)| n).collect())
    }
}
