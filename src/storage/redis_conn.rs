//! One way to reach Redis for every use of it (the key-value store, the cluster's membership and
//! its bus): a single server through a self-reconnecting `ConnectionManager`, or a Redis Cluster
//! through redis-rs's cluster client, which routes each command by its key's slot and follows
//! the cluster's resharding and failovers.
//!
//! `redis.url` names a cluster by listing several of its nodes, comma-separated
//! (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`); one URL is one server. Keys that meet in one
//! script or pipeline carry the same hash tag (`{lrc}`, `{r:<room>}`), so they share a slot.
//!
//! Subscriptions use RESP3 pushes, so the connection resubscribes by itself after it reconnects
//! (a Redis restart, a failover). On a cluster the bus uses sharded PUB/SUB (`SSUBSCRIBE`,
//! `SPUBLISH`): a channel's messages go through the one shard that owns its slot instead of
//! being broadcast to every node of the cluster.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, ProtocolVersion, PushInfo, RedisFuture, RedisResult, ToRedisArgs, Value};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// A connection to one Redis server or to a Redis Cluster; cheap to clone (clones share it).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The seed nodes when `url` names a Redis Cluster (several URLs, comma-separated).
pub fn cluster_seeds(url: &str) -> Option<Vec<String>> {
    url.contains(',').then(|| url.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect())
}

impl RedisConn {
    /// Connects; calls and connection attempts are bounded by `bound`. With `push`, the
    /// connection speaks RESP3 and hands what it is pushed (subscribed messages) to `push`,
    /// and subscribes again after reconnecting.
    pub async fn connect(url: &str, bound: Duration, push: Option<UnboundedSender<PushInfo>>) -> RedisResult<Self> {
        if let Some(seeds) = cluster_seeds(url) {
            let mut b = ClusterClientBuilder::new(seeds).connection_timeout(bound).response_timeout(bound).retries(2);
            if let Some(tx) = push {
                b = b.use_protocol(ProtocolVersion::RESP3).push_sender(tx);
            }
            return Ok(Self::Cluster(b.build()?.get_async_connection().await?));
        }
        let mut info = redis::IntoConnectionInfo::into_connection_info(url)?;
        let mut cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(bound))
            .set_response_timeout(Some(bound))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(bound);
        if let Some(tx) = push {
            let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
            info = info.set_redis_settings(settings);
            cfg = cfg.set_push_sender(tx).set_automatic_resubscription();
        }
        let client = redis::Client::open(info)?;
        Ok(Self::Single(ConnectionManager::new_with_config(client, cfg).await?))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// The command that publishes on a channel: sharded on a cluster.
    pub fn publish_command(&self) -> &'static str {
        if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// Subscribes (sharded on a cluster); answers once Redis confirmed it. Needs `push`.
    pub async fn subscribe(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        match self {
            Self::Single(c) => c.subscribe(channel).await,
            Self::Cluster(c) => c.ssubscribe(channel).await,
        }
    }

    pub async fn unsubscribe(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        match self {
            Self::Single(c) => c.unsubscribe(channel).await,
            Self::Cluster(c) => c.sunsubscribe(channel).await,
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        p: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(p, offset, count),
            Self::Cluster(c) => c.req_packed_commands(p, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_seeds;

    #[test]
    fn several_urls_name_a_cluster_and_one_a_server() {
        assert_eq!(cluster_seeds("redis://127.0.0.1:6379"), None);
        assert_eq!(
            cluster_seeds("redis://127.0.0.1:7000, redis://127.0.0.1:7001,"),
            Some(vec!["redis://127.0.0.1:7000".to_owned(), "redis://127.0.0.1:7001".to_owned()])
        );
    }
}
