//! Cluster membership in Redis: one sorted set of the nodes, each scored by when its membership
//! lapses, and a hash of what each node tells the others (its public address). A node renews
//! with one script call that reads Redis's own clock, so the nodes' clocks never need to agree,
//! and that drops every lapsed member as it goes.
//!
//! Room homes live beside them: a hash from room id to the node that holds the room's lease. A
//! lease has no expiry of its own; it is good while its holder is a live member, so thousands of
//! rooms cost no renewals, and it passes to another node only through [`Members::place_home`],
//! which checks the holder's membership on Redis's clock in the same script. Two nodes can
//! therefore never both be given one room, whatever each of them believes about the others.
//!
//! All four keys carry the hash tag `{lrc}`, so each script's keys meet in one slot of a Redis
//! Cluster.

use crate::storage::kv::{KvError, KvResult};
use crate::storage::redis_conn::RedisConn;
use std::time::Duration;

/// One member as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    /// `server.public_url` of that node (may be empty).
    pub public_url: String,
}

/// What a renewal learned.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// The live members, this node included, by id.
    pub live: Vec<Member>,
    /// This node's membership had lapsed before this renewal (it paused, or lost Redis, for
    /// longer than the expiry): the others have taken it for gone.
    pub lapsed: bool,
}

/// KEYS: nodes (zset), info (hash). ARGV: id, expire ms, public url, whether this node had
/// joined before (1/0). Returns {lapsed, {id, url, id, url, ...}}.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lapsed = 0
if (old and tonumber(old) <= now) or (not old and ARGV[4] == '1') then lapsed = 1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  redis.call('HDEL', KEYS[2], unpack(gone))
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(live) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return {lapsed, out}
";

/// KEYS: nodes, homes, epochs. ARGV: room, wanted node. Answers the room's holder and the
/// lease's epoch: the current holder if it is live, else `wanted` if that is live (it then holds
/// the lease, under the next epoch), else nothing. The epoch only grows: frames stamped with an
/// older one come from a home that lost the room (a paused node), and mirrors drop them.
const PLACE_HOME: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live(id)
  local s = redis.call('ZSCORE', KEYS[1], id)
  return s and tonumber(s) > now
end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and live(cur) then
  return {cur, tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')}
end
if not live(ARGV[2]) then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {ARGV[2], redis.call('HINCRBY', KEYS[3], ARGV[1], 1)}
";

fn err(e: redis::RedisError) -> KvError {
    KvError(format!("cluster membership: {e}"))
}

/// The membership keys of one deployment (`redis.prefix`).
#[derive(Clone)]
pub struct Members {
    conn: RedisConn,
    nodes: String,
    info: String,
    homes: String,
    epochs: String,
    online: String,
    renew: redis::Script,
    place_home: redis::Script,
    bound: Duration,
}

impl Members {
    /// Connects to `url`; each call is bounded by `bound`.
    pub async fn connect(url: &str, prefix: &str, bound: Duration) -> KvResult<Self> {
        let conn = RedisConn::connect(url, bound, None).await.map_err(err)?;
        Ok(Self {
            conn,
            nodes: format!("{prefix}{{lrc}}:nodes"),
            info: format!("{prefix}{{lrc}}:info"),
            homes: format!("{prefix}{{lrc}}:homes"),
            epochs: format!("{prefix}{{lrc}}:epochs"),
            online: format!("{prefix}{{lrc}}:online"),
            renew: redis::Script::new(RENEW),
            place_home: redis::Script::new(PLACE_HOME),
            bound,
        })
    }

    /// Renews `id`'s membership for `expire` and answers the live members. `joined`: this node
    /// has renewed before (so its absence means it lapsed, rather than that it is new).
    pub async fn renew(&self, id: &str, public_url: &str, expire: Duration, joined: bool) -> KvResult<Renewal> {
        let mut conn = self.conn.clone();
        let mut call = self.renew.key(&self.nodes);
        call.key(&self.info).arg(id).arg(expire.as_millis() as u64).arg(public_url).arg(u8::from(joined));
        let (lapsed, flat): (u8, Vec<String>) = tokio::time::timeout(self.bound, call.invoke_async(&mut conn))
            .await
            .map_err(|_| KvError("cluster membership: Redis did not answer in time".into()))?
            .map_err(err)?;
        let mut live: Vec<Member> =
            flat.chunks(2).map(|p| Member { id: p[0].clone(), public_url: p[1].clone() }).collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Renewal { live, lapsed: lapsed == 1 })
    }

    /// The node holding `room`'s lease and the lease's epoch, if that node is live; else gives
    /// the lease to `wanted` (under a new epoch) when that node is live. None: neither is (the
    /// caller's view of the members is behind).
    pub async fn place_home(&self, room: i64, wanted: &str) -> KvResult<Option<(String, u64)>> {
        let mut conn = self.conn.clone();
        let mut call = self.place_home.key(&self.nodes);
        call.key(&self.homes).key(&self.epochs).arg(room).arg(wanted);
        tokio::time::timeout(self.bound, call.invoke_async(&mut conn))
            .await
            .map_err(|_| KvError("cluster membership: Redis did not answer in time".into()))?
            .map_err(err)
    }

    /// A room's viewers on every node, as its home counts them (0 removes the room).
    pub async fn set_online(&self, room: i64, count: usize) -> KvResult<()> {
        let mut conn = self.conn.clone();
        let mut cmd = if count == 0 { redis::cmd("HDEL") } else { redis::cmd("HSET") };
        cmd.arg(&self.online).arg(room);
        if count > 0 {
            cmd.arg(count);
        }
        self.bounded(cmd.query_async::<()>(&mut conn)).await
    }

    /// Every room's viewers as its home last counted them, by room id.
    pub async fn online(&self) -> KvResult<std::collections::HashMap<i64, i64>> {
        let mut conn = self.conn.clone();
        self.bounded(redis::cmd("HGETALL").arg(&self.online).query_async(&mut conn)).await
    }

    /// One room's viewers as its home last counted them.
    pub async fn online_of(&self, room: i64) -> KvResult<Option<i64>> {
        let mut conn = self.conn.clone();
        self.bounded(redis::cmd("HGET").arg(&self.online).arg(room).query_async(&mut conn)).await
    }

    async fn bounded<T>(&self, call: impl std::future::Future<Output = redis::RedisResult<T>>) -> KvResult<T> {
        tokio::time::timeout(self.bound, call)
            .await
            .map_err(|_| KvError("cluster membership: Redis did not answer in time".into()))?
            .map_err(err)
    }

    /// Takes `id` out at once (a clean stop), so the others need not wait for it to lapse.
    pub async fn leave(&self, id: &str) -> KvResult<()> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic().zrem(&self.nodes, id).ignore().hdel(&self.info, id).ignore();
        tokio::time::timeout(self.bound, pipe.query_async::<()>(&mut conn))
            .await
            .map_err(|_| KvError("cluster membership: Redis did not answer in time".into()))?
            .map_err(err)
    }
}
