//! The cluster's bus: Redis PUB/SUB. Each node listens on its own channel (requests to it, and
//! answers to its requests) and on the channel of each room it mirrors; a room's home publishes
//! each event there once, whatever the number of viewers or nodes. Redis delivers a channel's
//! messages in the order published, and everything a node publishes goes out through one task
//! in the order given, pipelined, so a room's frames and a node's requests keep their order.
//!
//! PUB/SUB keeps nothing: a node that is not listening at that moment misses the message. The
//! layers above cope: a request has a timeout, and a mirror that misses frames sees a gap in
//! `seq` (and tells its viewers to `resync`).

use crate::storage::kv::{KvError, KvResult};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSubSink};
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

/// A node's end of the bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    out: mpsc::UnboundedSender<Out>,
    sink: PubSubSink,
    prefix: String,
    reader: ConnectionManager,
}

impl Bus {
    /// Connects node `node_id` and listens on its channel; what is heard arrives on the receiver,
    /// in order. The receiver ends if the subscription connection is lost.
    pub async fn connect(url: &str, prefix: &str, node_id: &str) -> KvResult<(Self, mpsc::UnboundedReceiver<Heard>)> {
        let client = redis::Client::open(url).map_err(err)?;
        let publisher = ConnectionManager::new(client.clone()).await.map_err(err)?;
        let publisher_reader = publisher.clone();
        let (mut sink, stream) = client.get_async_pubsub().await.map_err(err)?.split();
        let node_channel = format!("{prefix}{{n:{node_id}}}");
        sink.subscribe(&node_channel).await.map_err(err)?;
        let (heard_tx, heard) = mpsc::unbounded_channel();
        let room_prefix = format!("{prefix}{{r:");
        tokio::spawn(async move {
            let mut stream = stream;
            while let Some(msg) = stream.next().await {
                let channel = msg.get_channel_name().to_owned();
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
            let mut conn = publisher;
            let mut batch = Vec::new();
            while queue.recv_many(&mut batch, 512).await > 0 {
                let mut pipe = redis::pipe();
                for (channel, payload, seq) in batch.drain(..) {
                    if let Some((key, seq)) = seq {
                        pipe.set(key, seq).ignore();
                    }
                    pipe.publish(channel, payload).ignore();
                }
                if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                    tracing::warn!(error = %e, "bus: publishing failed; those messages are lost");
                }
            }
        });
        Ok((Self { out, sink, prefix: prefix.to_owned(), reader: publisher_reader }, heard))
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
        self.sink.clone().subscribe(self.room_channel(room)).await.map_err(err)
    }

    /// Stops hearing `room`'s channel.
    pub async fn unfollow(&self, room: i64) -> KvResult<()> {
        self.sink.clone().unsubscribe(self.room_channel(room)).await.map_err(err)
    }
}
