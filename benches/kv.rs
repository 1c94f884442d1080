//! Key-value store latency and throughput: `get`, `set` (with a TTL) and `incr_window` (the
//! rate-limit window), one at a time and 64 in flight at once, on the in-memory store, on the
//! embedded redb file (every key on disk: the app keeps rate windows in memory, so this is the
//! cost of sessions, carts and notices) and on Redis. Redis runs when `LIVEROOM_BENCH_REAL=1` or when 127.0.0.1:6379 answers, under a
//! unique prefix whose keys are deleted afterwards.
//!
//! `cargo bench --bench kv` (see BENCHMARKS.md for the figures and the exact command).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::future::join_all;
use liveroom::storage::kv::{Kv, MemoryKv, RedbKv, RedisKv};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const IN_FLIGHT: usize = 64;

#[derive(Clone, Copy)]
enum Op {
    Get,
    Set,
    IncrWindow,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::IncrWindow => "incr_window",
        }
    }

    async fn run(self, kv: &dyn Kv, i: usize) {
        match self {
            Op::Get => {
                std::hint::black_box(kv.get("bench:hot").await.unwrap());
            }
            Op::Set => kv.set(&format!("bench:s:{}", i % 1024), "value", Some(Duration::from_secs(60))).await.unwrap(),
            Op::IncrWindow => {
                std::hint::black_box(
                    kv.incr_window(&format!("bench:w:{}", i % 1024), Duration::from_secs(60)).await.unwrap(),
                );
            }
        }
    }
}

fn bench_store(c: &mut Criterion, rt: &Runtime, name: &str, kv: Arc<dyn Kv>) {
    // A TTL, so that nothing outlives an interrupted run for long.
    rt.block_on(kv.set("bench:hot", "a value of moderate length", Some(Duration::from_secs(600)))).unwrap();
    for op in [Op::Get, Op::Set, Op::IncrWindow] {
        let mut g = c.benchmark_group(format!("kv/{}", op.name()));
        g.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("1_at_a_time", name), |b| {
            b.to_async(rt).iter(|| {
                i += 1;
                op.run(kv.as_ref(), i)
            })
        });
        g.throughput(Throughput::Elements(IN_FLIGHT as u64));
        g.bench_function(BenchmarkId::new(format!("{IN_FLIGHT}_in_flight"), name), |b| {
            b.to_async(rt).iter(|| join_all((0..IN_FLIGHT).map(|j| op.run(kv.as_ref(), j))))
        });
        g.finish();
    }
}

/// Whether to bench Redis: asked for, or simply there.
fn redis_wanted(rt: &Runtime) -> bool {
    if std::env::var("LIVEROOM_BENCH_REAL").is_ok_and(|v| v == "1") {
        return true;
    }
    rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect("127.0.0.1:6379"))
            .await
            .is_ok_and(|r| r.is_ok())
    })
}

fn kv(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let memory: Arc<dyn Kv> = {
        let _in_runtime = rt.enter(); // its expiry sweeper is a task
        Arc::new(MemoryKv::new())
    };
    bench_store(c, &rt, "memory", memory);

    let dir = tempfile::tempdir().unwrap();
    let redb: Arc<dyn Kv> = Arc::new(RedbKv::open(&dir.path().join("bench.kv"), &[]).unwrap());
    bench_store(c, &rt, "redb", redb.clone());
    redb.close();

    if redis_wanted(&rt) {
        let prefix = format!("lrb:{}:", uuid::Uuid::new_v4().simple());
        let redis = rt.block_on(RedisKv::connect(REDIS_URL, &prefix)).expect("Redis at 127.0.0.1:6379");
        bench_store(c, &rt, "redis", Arc::new(redis.clone()));
        let deleted = rt.block_on(redis.delete_all()).unwrap();
        eprintln!("deleted {deleted} bench keys under {prefix}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = kv
}
criterion_main!(benches);
