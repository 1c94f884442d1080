//! The cluster's bus: Redis PUB/SUB (sharded on a Redis Cluster, `redis_conn`). Each node listens on its own channel (requests to it, and
//! answers to its requests) and on the channel of each room it mirrors; a room's home publishes
//! each event there once, whatever the number of viewers or nodes. Redis delivers a channel's
//! messages in the order published, and everything a node publishes goes out through one task
//! in the order given, pipelined, so a room's frames and a node's requests keep their order.
//!
//! PUB/SUB keeps nothing: a node that is not listening at that moment misses the message. The
//! layers above cope: a request has a timeout, and a mirror that misses frames sees a gap in
//! `seq` (and tells its viewers to `resync`).

use crate::storage::kv::{KvError, KvResult};
use crate::storage::redis_conn::RedisConn;
use futures_util::future::join_all;
use redis::{Msg, PushKind};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Something heard on the bus.
#[derive(Debug)]
pub enum Heard {
    /// On a room's channel.
    Room { room: i64, payload: Vec<u8> },
    /// On this node's channel.
    Node { payload: Vec<u8> },
}

fn err(e: redis::RedisError) -> KvError {
    KvError(format!("bus: {e}"))
}

/// One message out, and the room seq to store first when it is a room's numbered frame.
type Out = (String, Vec<u8>, Option<(String, u64)>);

/// How long a bus call or a connection attempt may take.
const BOUND: Duration = Duration::from_secs(3);

/// A node's end of the bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    out: mpsc::UnboundedSender<Out>,
    /// The subscriptions' connection (RESP3 pushes; it subscribes again after reconnecting).
    subscriber: RedisConn,
    prefix: String,
    reader: RedisConn,
}

/// Pings `conn` until it answers: the ping makes a dropped connection reconnect, and the
/// connection then subscribes again to what it had subscribed to.
async fn reconnect(mut conn: RedisConn) {
    let mut wait = Duration::from_millis(50);
    loop {
        match redis::cmd("PING").query_async::<()>(&mut conn).await {
            Ok(()) => {
                tracing::info!("bus: the subscription connection is back");
                return;
            }
            Err(e) => tracing::debug!(error = %e, "bus: the subscription connection is not back yet"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

impl Bus {
    /// Connects node `node_id` and listens on its channel; what is heard arrives on the receiver,
    /// in order. After a lost connection (a Redis restart, a failover) the subscriptions come
    /// back by themselves; what was published meanwhile is missed, as PUB/SUB misses it.
    pub async fn connect(url: &str, prefix: &str, node_id: &str) -> KvResult<(Self, mpsc::UnboundedReceiver<Heard>)> {
        let publisher = RedisConn::connect(url, BOUND, None).await.map_err(err)?;
        let publisher_reader = publisher.clone();
        let (push_tx, mut pushes) = mpsc::unbounded_channel();
        let mut subscriber = RedisConn::connect(url, BOUND, Some(push_tx)).await.map_err(err)?;
        let node_channel = format!("{prefix}{{n:{node_id}}}");
        subscriber.subscribe(&node_channel).await.map_err(err)?;
        let (heard_tx, heard) = mpsc::unbounded_channel();
        let room_prefix = format!("{prefix}{{r:");
        let revive = subscriber.clone();
        tokio::spawn(async move {
            while let Some(push) = pushes.recv().await {
                if push.kind == PushKind::Disconnection {
                    tracing::warn!("bus: the subscription connection dropped; it subscribes again once back");
                    // A connection that only listens is never asked anything, so nothing would
                    // make it reconnect: ping it until it is back (and has subscribed again).
                    tokio::spawn(reconnect(revive.clone()));
                    continue;
                }
                let Some(msg) = Msg::from_push_info(push) else { continue };
                let channel = msg.get_channel_name();
                let payload = msg.get_payload_bytes().to_vec();
                let h = if channel == node_channel {
                    Heard::Node { payload }
                } else if let Some(room) =
                    channel.strip_prefix(&room_prefix).and_then(|r| r.strip_suffix('}')).and_then(|r| r.parse().ok())
                {
                    Heard::Room { room, payload }
                } else {
                    continue;
                };
                if heard_tx.send(h).is_err() {
                    return;
                }
            }
            tracing::error!("bus: the subscription connection ended");
        });
        let (out, mut queue) = mpsc::unbounded_channel::<Out>();
        tokio::spawn(async move {
            let conn = publisher;
            let publish = conn.publish_command();
            let mut batch = Vec::new();
            while queue.recv_many(&mut batch, 512).await > 0 {
                // One pipeline on a single server. On a cluster a pipeline must stay in one
                // slot: one per channel (a room's seq key shares its channel's hash tag), sent
                // together; each keeps its channel's order, and the next batch waits for them.
                let mut pipes: Vec<(String, redis::Pipeline)> = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                for (channel, payload, seq) in batch.drain(..) {
                    let slot = if conn.is_cluster() { channel.clone() } else { String::new() };
                    let i = *index.entry(slot.clone()).or_insert_with(|| {
                        pipes.push((slot, redis::pipe()));
                        pipes.len() - 1
                    });
                    let pipe = &mut pipes[i].1;
                    if let Some((key, seq)) = seq {
                        pipe.set(key, seq).ignore();
                    }
                    pipe.cmd(publish).arg(channel).arg(payload).ignore();
                }
                let sent = pipes.iter().map(|(_, p)| {
                    let mut c = conn.clone();
                    async move { p.query_async::<()>(&mut c).await }
                });
                for res in join_all(sent).await {
                    if let Err(e) = res {
                        tracing::warn!(error = %e, "bus: publishing failed; those messages are lost");
                    }
                }
            }
        });
        Ok((Self { out, subscriber, prefix: prefix.to_owned(), reader: publisher_reader }, heard))
    }

    fn room_channel(&self, room: i64) -> String {
        format!("{}{{r:{room}}}", self.prefix)
    }

    fn seq_key(&self, room: i64) -> String {
        format!("{}{{r:{room}}}:seq", self.prefix)
    }

    /// Publishes on `room`'s channel (after everything published before). With `seq`, the
    /// room's last seq is stored first, so that a node taking the room over numbers on from it.
    pub fn to_room(&self, room: i64, payload: Vec<u8>, seq: Option<u64>) {
        let _ = self.out.send((self.room_channel(room), payload, seq.map(|s| (self.seq_key(room), s))));
    }

    /// The last seq a home of `room` stored (0: none yet).
    pub async fn room_seq(&self, room: i64) -> KvResult<u64> {
        let mut conn = self.reader.clone();
        let v: Option<u64> = redis::cmd("GET").arg(self.seq_key(room)).query_async(&mut conn).await.map_err(err)?;
        Ok(v.unwrap_or(0))
    }

    /// Publishes on node `node`'s channel (after everything published before).
    pub fn to_node(&self, node: &str, payload: Vec<u8>) {
        let _ = self.out.send((format!("{}{{n:{node}}}", self.prefix), payload, None));
    }

    /// Starts hearing `room`'s channel; answers once Redis has confirmed it.
    pub async fn follow(&self, room: i64) -> KvResult<()> {
        self.subscriber.clone().subscribe(self.room_channel(room)).await.map_err(err)
    }

    /// Stops hearing `room`'s channel.
    pub async fn unfollow(&self, room: i64) -> KvResult<()> {
        self.subscriber.clone().unsubscribe(self.room_channel(room)).await.map_err(err)
    }
}
