//! One conformance body for the `Kv` trait, run on the in-memory store, the redb file (all keys
//! on disk, and with volatile prefixes routed to memory) and (with the real sets) on Redis under
//! a unique prefix that is deleted afterwards.

use crate::helpers::{backend_sets, redis_url, BackendSet};
use liveroom::storage::kv::{Kv, MemoryKv, RedbKv, RedisKv};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A Redis store under a prefix of its own; every key under it is deleted on drop, also when
/// the test panicked half-way.
struct ScopedRedis {
    kv: RedisKv,
    prefix: String,
}

impl ScopedRedis {
    async fn new() -> Self {
        let prefix = format!("lrt:kv:{}:", uuid::Uuid::new_v4().simple());
        let kv = RedisKv::connect(&redis_url(), &prefix).await.expect("redis connects");
        Self { kv, prefix }
    }
}

impl Drop for ScopedRedis {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        // The store's own connection is driven by the test's runtime, which this drop blocks:
        // clean up over a new connection on a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(kv) = RedisKv::connect(&redis_url(), &prefix).await {
                    let _ = kv.delete_all().await;
                }
            });
        })
        .join();
    }
}

/// The implementations this run covers: both real sets share one Redis, so it runs once.
fn kv_backends() -> Vec<&'static str> {
    let mut v = vec!["memory", "redb", "redb+volatile"];
    if backend_sets().iter().any(|s| *s != BackendSet::Embedded) {
        v.push("redis");
    }
    v
}

#[actix_web::test]
async fn every_kv_store_keeps_the_same_contract() {
    for name in kv_backends() {
        let scope;
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn Kv> = match name {
            "memory" => Arc::new(MemoryKv::new()),
            "redb" => Arc::new(RedbKv::open(&dir.path().join("t.kv"), &[]).unwrap()),
            // The hot keys of the conformance body live in memory, the rest on disk.
            "redb+volatile" => Arc::new(RedbKv::open(&dir.path().join("t.kv"), &["w", "race:", "presence"]).unwrap()),
            _ => {
                scope = ScopedRedis::new().await;
                Arc::new(scope.kv.clone())
            }
        };
        assert_eq!(kv.backend(), name.split('+').next().unwrap());
        kv.ping().await.unwrap();
        strings_expire_and_set_nx_takes_the_first(&kv, name).await;
        one_take_wins_a_race(&kv, name).await;
        windows_count_and_reset(&kv, name).await;
        hashes_keep_fields_and_expire(&kv, name).await;
    }
}

async fn strings_expire_and_set_nx_takes_the_first(kv: &Arc<dyn Kv>, name: &str) {
    let ttl = Duration::from_millis(400);
    assert_eq!(kv.get("s:absent").await.unwrap(), None, "{name}");
    kv.set("s:keep", "1", None).await.unwrap();
    kv.set("s:keep", "2", None).await.unwrap();
    kv.set("s:short", "x", Some(ttl)).await.unwrap();
    assert_eq!(kv.get("s:keep").await.unwrap().as_deref(), Some("2"), "{name}: set replaces");
    assert_eq!(kv.get("s:short").await.unwrap().as_deref(), Some("x"), "{name}");

    assert!(kv.set_nx("s:nx", "first", ttl).await.unwrap(), "{name}");
    assert!(!kv.set_nx("s:nx", "second", ttl).await.unwrap(), "{name}: set_nx on a live key");
    assert_eq!(kv.get("s:nx").await.unwrap().as_deref(), Some("first"), "{name}");

    assert!(kv.del("s:keep").await.unwrap(), "{name}");
    assert!(!kv.del("s:keep").await.unwrap(), "{name}: del of a missing key");
    assert_eq!(kv.get("s:keep").await.unwrap(), None, "{name}");
    kv.set("s:keep", "3", None).await.unwrap();

    kv.set("s:ticket", "t", None).await.unwrap();
    assert_eq!(kv.take("s:ticket").await.unwrap().as_deref(), Some("t"), "{name}");
    assert_eq!(kv.take("s:ticket").await.unwrap(), None, "{name}: take is one-use");
    assert_eq!(kv.get("s:ticket").await.unwrap(), None, "{name}");

    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert_eq!(kv.get("s:short").await.unwrap(), None, "{name}: TTL expiry");
    assert!(kv.set_nx("s:nx", "again", ttl).await.unwrap(), "{name}: set_nx after expiry");
    assert_eq!(kv.get("s:keep").await.unwrap().as_deref(), Some("3"), "{name}: no TTL keeps the key");
}

async fn one_take_wins_a_race(kv: &Arc<dyn Kv>, name: &str) {
    for round in 0..5 {
        let key = format!("race:{round}");
        kv.set(&key, "prize", None).await.unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let kv = kv.clone();
                let key = key.clone();
                actix_web::rt::spawn(async move { kv.take(&key).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            if let Some(v) = t.await.unwrap() {
                assert_eq!(v, "prize");
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{name}: round {round}");
    }
}

async fn windows_count_and_reset(kv: &Arc<dyn Kv>, name: &str) {
    let window = Duration::from_millis(500);
    assert_eq!(kv.window_count("w:absent").await.unwrap(), 0, "{name}");
    let (n, left1) = kv.incr_window("w", window).await.unwrap();
    assert_eq!(n, 1, "{name}");
    assert!(left1 > Duration::ZERO && left1 <= window, "{name}: {left1:?} left of {window:?}");
    assert_eq!(kv.incr_window("w", window).await.unwrap().0, 2, "{name}");
    let (n, left3) = kv.incr_window("w", window).await.unwrap();
    assert_eq!(n, 3, "{name}");
    assert!(left3 <= left1, "{name}: a hit does not extend the window");
    assert_eq!(kv.window_count("w").await.unwrap(), 3, "{name}");

    // 50 hits at once are each counted once.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let kv = kv.clone();
            actix_web::rt::spawn(async move { kv.incr_window("w:race", Duration::from_secs(10)).await.unwrap().0 })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=50).collect::<Vec<u64>>(), "{name}");

    tokio::time::sleep(window + Duration::from_millis(300)).await;
    assert_eq!(kv.window_count("w").await.unwrap(), 0, "{name}: the window passed");
    let (n, left) = kv.incr_window("w", window).await.unwrap();
    assert_eq!(n, 1, "{name}: a new window starts at 1");
    assert!(left > window / 2, "{name}: a new window gets its full length, {left:?}");
}

async fn hashes_keep_fields_and_expire(kv: &Arc<dyn Kv>, name: &str) {
    kv.hset("h", "a", "1", None).await.unwrap();
    kv.hset("h", "b", "2", None).await.unwrap();
    kv.hset("h", "a", "3", None).await.unwrap();
    assert_eq!(kv.hget("h", "a").await.unwrap().as_deref(), Some("3"), "{name}");
    assert_eq!(kv.hget("h", "zz").await.unwrap(), None, "{name}");
    assert_eq!(kv.hget("h:absent", "a").await.unwrap(), None, "{name}");
    let all: HashMap<String, String> = [("a", "3"), ("b", "2")].map(|(k, v)| (k.into(), v.into())).into();
    assert_eq!(kv.hgetall("h").await.unwrap(), all, "{name}");
    assert!(kv.hdel("h", "a").await.unwrap(), "{name}");
    assert!(!kv.hdel("h", "a").await.unwrap(), "{name}: hdel of a missing field");
    assert_eq!(kv.hgetall("h").await.unwrap().len(), 1, "{name}");
    assert!(kv.hdel("h", "b").await.unwrap(), "{name}");
    assert!(kv.hgetall("h").await.unwrap().is_empty(), "{name}: the last field gone, the hash is gone");
    assert!(kv.hgetall("h:absent").await.unwrap().is_empty(), "{name}");

    assert_eq!(kv.hincr("presence", "room1", 1).await.unwrap(), 1, "{name}");
    assert_eq!(kv.hincr("presence", "room1", 2).await.unwrap(), 3, "{name}");
    assert_eq!(kv.hincr("presence", "room1", -1).await.unwrap(), 2, "{name}");
    assert_eq!(kv.hget("presence", "room1").await.unwrap().as_deref(), Some("2"), "{name}");

    // TTLs: `short` lapses; `renewed` would lapse at 3 s but a write at ~1.5 s renews it. The
    // margins are wide (1.5 s) so a loaded machine's late wake-ups do not decide the outcome.
    kv.hset("h:short", "f", "v", Some(Duration::from_millis(500))).await.unwrap();
    kv.hset("h:renewed", "f", "v", Some(Duration::from_secs(3))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(kv.hgetall("h:short").await.unwrap().is_empty(), "{name}: hash TTL expiry");
    assert_eq!(kv.hget("h:short", "f").await.unwrap(), None, "{name}");
    kv.hset("h:renewed", "g", "w", Some(Duration::from_secs(3))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(kv.hgetall("h:renewed").await.unwrap().len(), 2, "{name}: hset renews the hash's TTL");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(kv.hgetall("h:renewed").await.unwrap().is_empty(), "{name}: the renewed TTL lapses too");
    assert_eq!(kv.hget("presence", "room1").await.unwrap().as_deref(), Some("2"), "{name}: no TTL, no expiry");
}

#[actix_web::test]
async fn hole20_the_redb_store_keeps_its_keys_and_their_ttls_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.kv");
    let kv = RedbKv::open(&path, &["rl:"]).unwrap();
    kv.set("sess:a", "user 1", Some(Duration::from_secs(600))).await.unwrap();
    kv.set("forever", "x", None).await.unwrap();
    kv.set("short", "gone soon", Some(Duration::from_millis(800))).await.unwrap();
    kv.hset("cart:1:2", "7", "2", Some(Duration::from_secs(600))).await.unwrap();
    kv.hset("notices:1", "n1", "{}", Some(Duration::from_secs(600))).await.unwrap();
    kv.incr_window("sms:fail:1", Duration::from_secs(600)).await.unwrap();
    kv.incr_window("rl:hot", Duration::from_secs(600)).await.unwrap();
    assert!(
        RedbKv::open(&path, &[]).is_err_and(|e| e.to_string().contains("already open")),
        "one process at a time owns the file"
    );
    // A clean stop: the last writes are made durable and the file is released.
    kv.close();
    assert!(kv.get("sess:a").await.is_err(), "a closed store answers errors, not stale data");

    let kv = RedbKv::open(&path, &["rl:"]).unwrap();
    assert_eq!(kv.get("sess:a").await.unwrap().as_deref(), Some("user 1"));
    assert_eq!(kv.get("forever").await.unwrap().as_deref(), Some("x"));
    assert_eq!(kv.hget("cart:1:2", "7").await.unwrap().as_deref(), Some("2"));
    assert_eq!(kv.hgetall("notices:1").await.unwrap().len(), 1);
    assert_eq!(kv.incr_window("sms:fail:1", Duration::from_secs(600)).await.unwrap().0, 2, "a kept window goes on");
    assert_eq!(kv.window_count("rl:hot").await.unwrap(), 0, "volatile keys start afresh");
    // TTLs run on the wall clock, so they keep running across the restart.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(kv.get("short").await.unwrap(), None, "the TTL lapsed");
    assert_eq!(kv.sweep().unwrap(), 1, "the expired record is removed from the file");
    assert_eq!(kv.durable_len().unwrap(), 5);
    kv.close();

    // Without `close`, dropping the last handle also flushes and releases the file (once the
    // flush thread, which may hold it for a moment, lets go).
    let kv = RedbKv::open(&path, &[]).unwrap();
    kv.set("late", "y", None).await.unwrap();
    drop(kv);
    let kv = reopen(&path).await;
    assert_eq!(kv.get("late").await.unwrap().as_deref(), Some("y"));
}

async fn reopen(path: &std::path::Path) -> RedbKv {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match RedbKv::open(path, &[]) {
            Ok(kv) => return kv,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("{e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[actix_web::test]
async fn a_crowd_of_redb_writes_shares_commits_and_each_stays_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let kv = RedbKv::open(&dir.path().join("t.kv"), &[]).unwrap();
    let before = kv.commits();
    // 2,000 writers at once: a counter each of them adds to, a hash field each, a set each.
    let tasks: Vec<_> = (0..2000)
        .map(|i| {
            let kv = kv.clone();
            actix_web::rt::spawn(async move {
                let n = kv.hincr("crowd:count", "n", 1).await.unwrap();
                kv.hset("crowd:fields", &format!("f{i}"), &i.to_string(), None).await.unwrap();
                kv.set(&format!("crowd:s:{i}"), &i.to_string(), Some(Duration::from_secs(60))).await.unwrap();
                n
            })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=2000).collect::<Vec<i64>>(), "every increment saw the ones before it, once");
    assert_eq!(kv.hgetall("crowd:fields").await.unwrap().len(), 2000, "no field write was lost");
    assert_eq!(kv.get("crowd:s:1999").await.unwrap().as_deref(), Some("1999"));
    let commits = kv.commits() - before;
    assert!(commits < 6000, "6,000 writes at once shared transactions: {commits} commits");

    // A write waiting behind a close is answered with an error, not left hanging.
    let late = {
        let kv = kv.clone();
        actix_web::rt::spawn(async move { kv.set("crowd:late", "x", None).await })
    };
    kv.close();
    let _ = tokio::time::timeout(Duration::from_secs(10), late).await.expect("answered").unwrap();
    assert!(kv.set("crowd:after", "x", None).await.is_err(), "a closed store refuses writes");
}
