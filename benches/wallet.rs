//! Wallet repository with group commit: committed debits per second, and red-packet grabs
//! (a credit with its packet's guarded claim) per second. SQLite always; Postgres and MariaDB
//! too with `LIVEROOM_BENCH_REAL=1` (a fresh database on each, dropped afterwards).
//! `benches/sql/reference.sh` measures the same work with each database's own tools.
//!
//! `cargo bench --bench wallet` (add `LIVEROOM_BENCH_REAL=1` for Postgres and MariaDB).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::domain::money::TradeKind;
use liveroom::storage::{
    db,
    idgen::IdGen,
    wallets::{Effect, WalletOp, Wallets},
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const USERS: i64 = 1000;
/// Writes in flight at once (concurrent HTTP requests would give the writer this many).
const CONCURRENCY: usize = 512;

async fn setup(url: &str) -> (DatabaseConnection, Wallets) {
    let conn = db::connect(url, 16).await.unwrap();
    let stmt = "INSERT INTO wallets (user_id, balance, updated_at) VALUES ";
    let mut values = vec![];
    for u in 1..=USERS {
        values.push(format!("({u}, 1000000000000, 0)"));
    }
    conn.execute_unprepared(&format!("{stmt}{}", values.join(","))).await.unwrap();
    let ids = IdGen::new(conn.clone(), 100_000);
    let w = Wallets::start(conn.clone(), ids, 256, Duration::from_micros(500), Duration::from_secs(30));
    (conn, w)
}

static REF: AtomicI64 = AtomicI64::new(0);

async fn debits(w: &Wallets, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    let per = n / CONCURRENCY;
    for t in 0..CONCURRENCY {
        let w = w.clone();
        set.spawn(async move {
            for i in 0..per {
                let op = WalletOp::new(
                    ((t * per + i) as i64 % USERS) + 1,
                    -1,
                    TradeKind::Gift,
                    format!("b{}", REF.fetch_add(1, Ordering::Relaxed)),
                    Effect::None,
                );
                w.apply(op).await.unwrap();
            }
        });
    }
    while set.join_next().await.is_some() {}
}

static PACKET: AtomicI64 = AtomicI64::new(1);

/// Inserts `n` unclaimed packets; returns the first id.
async fn packets(conn: &DatabaseConnection, n: usize) -> i64 {
    let first = PACKET.fetch_add(n as i64, Ordering::Relaxed);
    for chunk in (0..n as i64).collect::<Vec<_>>().chunks(1000) {
        let v: Vec<String> = chunk.iter().map(|i| format!("({}, 1, 3, NULL, false)", first + i)).collect();
        conn.execute_unprepared(&format!(
            "INSERT INTO red_packets (id, rain_id, amount, user_id, refunded) VALUES {}",
            v.join(",")
        ))
        .await
        .unwrap();
    }
    first
}

/// Grabs: each credits a packet's amount with its claim, in one transaction.
async fn grabs(w: &Wallets, first: i64, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    let per = n / CONCURRENCY;
    for t in 0..CONCURRENCY {
        let w = w.clone();
        set.spawn(async move {
            for i in 0..per {
                let packet = first + (t * per + i) as i64;
                let user = (packet % USERS) + 1;
                let op = WalletOp::new(
                    user,
                    3,
                    TradeKind::RedPacket,
                    format!("packet:{packet}"),
                    Effect::ClaimPacket { packet_id: packet },
                );
                let o = w.apply(op).await.unwrap();
                assert!(matches!(o, liveroom::storage::wallets::Outcome::Done { .. }));
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// A server database made for one run: the admin URL it was created from and the statement that
/// drops it.
struct Scratch {
    admin: String,
    drop: String,
}

impl Scratch {
    /// Creates database `name` through `admin`.
    fn create(admin: &str, name: &str, drop: String) -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let a = Database::connect(admin).await.unwrap();
            a.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            a.close().await.unwrap();
        });
        Scratch { admin: admin.to_owned(), drop }
    }
}

fn bench_on(c: &mut Criterion, name: &str, url: String, cleanup: Option<Scratch>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (conn, w) = rt.block_on(setup(&url));
    let mut g = c.benchmark_group(format!("wallet/{name}"));
    g.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    let n = CONCURRENCY * 8;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("debits", |b| b.to_async(&rt).iter(|| debits(&w, n)));
    g.bench_function("grabs", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let first = rt.block_on(packets(&conn, n));
                let t = std::time::Instant::now();
                rt.block_on(grabs(&w, first, n));
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
    drop(w);
    if let Some(scratch) = cleanup {
        rt.block_on(async {
            // MariaDB has no `WITH (FORCE)`: its DROP waits for the pool's sessions to end.
            conn.close().await.unwrap();
            let a = Database::connect(&scratch.admin).await.unwrap();
            a.execute_unprepared(&scratch.drop).await.unwrap();
            a.close().await.unwrap();
        });
    }
}

fn wallet(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    bench_on(c, "sqlite", format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()), None);
    if std::env::var("LIVEROOM_BENCH_REAL").is_ok_and(|v| v == "1") {
        let name = format!("lrbench_{}", std::process::id());
        let pg = Scratch::create(
            "postgres://postgres@127.0.0.1:5432/test",
            &name,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        bench_on(c, "postgres", format!("postgres://postgres@127.0.0.1:5432/{name}"), Some(pg));

        let name = format!("lrb_{}", uuid::Uuid::new_v4().simple());
        let my = Scratch::create("mysql://root@127.0.0.1:3306/test", &name, format!("DROP DATABASE IF EXISTS {name}"));
        bench_on(c, "mariadb", format!("mysql://root@127.0.0.1:3306/{name}"), Some(my));
    }
}

criterion_group!(benches, wallet);
criterion_main!(benches);
