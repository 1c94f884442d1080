//! Segment id generator throughput (ids/s): one caller, and 8 concurrent callers sharing one
//! generator, on an SQLite temp file and (with `LIVEROOM_BENCH_REAL=1`) on a fresh Postgres
//! database that is dropped afterwards. Step 1000, as the app uses.
//!
//! `cargo bench --bench ids` (see BENCHMARKS.md for the figures and the exact command).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liveroom::storage::{db, idgen::IdGen};
use sea_orm::{ConnectionTrait, Database};
use std::time::Duration;
use tokio::runtime::Runtime;

const STEP: i64 = 1000;
/// Ids taken per measured iteration, so one iteration spans several segments.
const BATCH: usize = 10_000;
const TASKS: usize = 8;
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A fresh Postgres database, dropped when this goes out of scope (also after a panic).
struct PgScratch {
    name: String,
}

impl PgScratch {
    async fn create() -> Self {
        let name = format!("lrb_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(PG_ADMIN).await.expect("Postgres at 127.0.0.1:5432");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let _ = admin.close().await;
        Self { name }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside the bench's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(PG_ADMIN).await {
                    let _ = admin.execute_unprepared(&sql).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

async fn take(ids: &IdGen, n: usize) {
    for _ in 0..n {
        std::hint::black_box(ids.next("bench").await.unwrap());
    }
}

async fn take_concurrently(ids: &IdGen) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let ids = ids.clone();
            tokio::spawn(async move { take(&ids, BATCH / TASKS).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, backend: &str, url: &str) {
    let conn = rt.block_on(db::connect(url, 8)).expect("database connects and migrates");
    let ids = IdGen::new(conn.clone(), STEP);
    let mut g = c.benchmark_group("idgen");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_with_input(BenchmarkId::new("1_task", backend), &ids, |b, ids| {
        b.to_async(rt).iter(|| take(ids, BATCH));
    });
    g.bench_with_input(BenchmarkId::new(format!("{TASKS}_tasks"), backend), &ids, |b, ids| {
        b.to_async(rt).iter(|| take_concurrently(ids));
    });
    g.finish();
    rt.block_on(conn.close()).unwrap();
}

fn ids(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ids.db").display());
    bench_backend(c, &rt, "sqlite", &url);

    if std::env::var("LIVEROOM_BENCH_REAL").is_ok_and(|v| v == "1") {
        let pg = rt.block_on(PgScratch::create());
        bench_backend(c, &rt, "postgres", &pg.url());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = ids
}
criterion_main!(benches);
