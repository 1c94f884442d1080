//! The room actor fanning one chat out to N in-process sessions (issue 4, real-time path).
//!
//! The real `Room` actor runs inside an actix System; N sockets are joined through `Join` with
//! the default queue size (256), exactly as `src/http/ws/` does. One iteration is one `Chat`
//! message and a `Snapshot` round trip (which comes back once the room has sent its batch): the
//! handler checks the sender, filters the text, encodes the frame once (as a WebSocket frame,
//! since issue 14), records it in the history and `try_send`s it into N queues (with
//! `batch_max_ms = 0`: every frame is its own batch). Throughput is N deliveries per iteration.
//!
//! Two measurements per N:
//! - `fanout`: the time of the `Chat` round trip only (the queues are drained between
//!   iterations, outside the timing), i.e. what the room actor's thread spends per broadcast;
//! - `fanout_and_drain`: the same plus reading every frame out of the N queues on the same
//!   thread, i.e. the cost up to the point where each socket task would hold its frame.
//!
//! Run: `cargo bench --bench room` (add `-- --quick` for a short run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liveroom::actors::hub::{Outbound, SocketHandle};
use liveroom::actors::room::AnchorRef;
use liveroom::actors::room::{Chat, Join, Room, RoomDeps, RoomGauges, RoomInfo, Snapshot};
use liveroom::domain::chat::WordFilter;
use liveroom::http::views::UserRef;
use liveroom::settings::RoomSettings;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::Receiver;

const QUEUE: usize = 256;

fn settings() -> RoomSettings {
    RoomSettings {
        heartbeat_timeout_s: 15,
        ticket_ttl_s: 30,
        kick_s: 600,
        queue_size: QUEUE,
        // Every frame at once: the bench measures one frame's fan-out.
        batch_max_ms: 0,
        // The bench publishes chats; gifts would merge as in the server.
        gift_combo_max_ms: 50,
        gift_combo_min_viewers: 100,
        history_size: 256,
        recent_chats: 50,
        chat_per_second: 5,
        word_filter: vec!["fuck".into(), "shit".into(), "傻逼".into()],
        arbiters: 1,
        write_timeout_s: 10,
        client_frames_per_second: 20,
        client_frames_burst: 40,
        max_sockets_per_user_per_room: 5,
        max_sockets_per_user: 20,
        im_per_minute: 30,
    }
}

struct Fixture {
    addr: Addr<Room>,
    sender: u64,
    rxs: Vec<Receiver<Outbound>>,
}

/// Starts a room and joins `n` sockets of `n / 4` users (several sockets per user, as the load
/// generator does); must run inside the System.
async fn fixture(n: usize) -> Fixture {
    let s = settings();
    // The room reads storage when it starts (its gift ranking): an in-memory SQLite, migrated.
    let db = liveroom::storage::db::connect("sqlite::memory:", 1).await.expect("in-memory database");
    let deps = RoomDeps { db, filter: Arc::new(WordFilter::new(&s.word_filter)), settings: Arc::new(s), limits: false };
    let info = RoomInfo {
        id: 1,
        title: "bench".into(),
        kind: "normal".into(),
        anchor: AnchorRef { id: 1, nickname: "anchor".into(), avatar: String::new() },
        started_at: 0,
        slow_mode_s: 0,
    };
    let addr = Room::new(info, deps, Arc::new(RoomGauges::default())).start();
    let mut rxs = Vec::with_capacity(n);
    let mut sender = 0;
    for i in 0..n {
        let uid = 2 + (i / 4) as i64;
        let (h, rx) = SocketHandle::new(uid, 1, QUEUE);
        if i == 0 {
            sender = h.id;
        }
        let user = UserRef { id: uid, nickname: format!("viewer{uid}") };
        addr.send(Join { user, you: json!({}), handle: h }).await.unwrap().unwrap();
        rxs.push(rx);
    }
    Fixture { addr, sender, rxs }
}

fn drain(rxs: &mut [Receiver<Outbound>]) -> usize {
    let mut got = 0;
    for rx in rxs.iter_mut() {
        while rx.try_recv().is_ok() {
            got += 1;
        }
    }
    got
}

fn chat(f: &Fixture, i: u64) -> Chat {
    Chat { socket_id: f.sender, text: format!("t={i} hello everybody, this is a typical chat line") }
}

fn bench_fanout(c: &mut Criterion) {
    let sys = System::new();
    let mut g = c.benchmark_group("room_fanout");
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for &n in &[100usize, 1_000, 10_000] {
        let mut f = sys.block_on(fixture(n));
        drain(&mut f.rxs); // the `online` snapshot, if the tick already ran
        g.throughput(Throughput::Elements(n as u64));
        let mut seq = 0u64;

        g.bench_with_input(BenchmarkId::new("fanout", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seq += 1;
                    let msg = chat(&f, seq);
                    let t = Instant::now();
                    sys.block_on(f.addr.send(msg)).unwrap().unwrap();
                    // The room sends its batch once it has handled its mailbox: this round trip
                    // comes back after the batch is in every queue.
                    sys.block_on(f.addr.send(Snapshot)).unwrap();
                    total += t.elapsed();
                    drain(&mut f.rxs);
                }
                total
            })
        });

        g.bench_with_input(BenchmarkId::new("fanout_and_drain", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seq += 1;
                    let msg = chat(&f, seq);
                    let t = Instant::now();
                    sys.block_on(f.addr.send(msg)).unwrap().unwrap();
                    // The room sends its batch once it has handled its mailbox: this round trip
                    // comes back after the batch is in every queue.
                    sys.block_on(f.addr.send(Snapshot)).unwrap();
                    let got = drain(&mut f.rxs);
                    total += t.elapsed();
                    assert!(got >= n, "{got} of {n} frames delivered");
                }
                total
            })
        });

        // Nobody was dropped as too slow: every iteration reached all N queues.
        let snap = sys.block_on(f.addr.send(Snapshot)).unwrap();
        assert_eq!(snap.sockets, n);
    }
    g.finish();
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);
