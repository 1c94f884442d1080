//! `burst`: HTTP load for the money and stock paths, against a running server on loopback.
//!
//! ```text
//! burst gifts  --addr http://127.0.0.1:8080 --viewers 1000 --senders 200 --gifts 20000
//! burst orders --addr http://127.0.0.1:8080 --buyers 10000 --stock 100
//! burst grabs  --addr http://127.0.0.1:8080 --grabbers 500 --packets 10000
//! ```
//! Start the server with `LIVEROOM__LIMITS__ENABLED=false` (per-user limits would refuse the
//! load). Reports throughput, p50/p99/max latency and the invariants it checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Client {
    http: reqwest::Client,
    addr: String,
}

static PHONE: AtomicU64 = AtomicU64::new(0);

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{}", self.addr, path)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        match r.send().await {
            Ok(res) => {
                let s = res.status().as_u16();
                (s, res.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }
    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }
    async fn login_phone(&self, phone: &str) -> String {
        let _ = self.http.post(format!("{}/api/auth/sms", self.addr)).json(&json!({"phone": phone})).send().await;
        let r = self
            .http
            .post(format!("{}/api/auth/login", self.addr))
            .json(&json!({"phone": phone, "code": "1000"}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["token"].as_str().unwrap_or_else(|| panic!("login {phone}: {v}")).to_owned()
    }
    async fn new_user(&self) -> String {
        let n = PHONE.fetch_add(1, Ordering::Relaxed);
        let phone = format!("17{:09}", (std::process::id() as u64 % 1000) * 1_000_000 + n);
        self.login_phone(&phone).await
    }
    /// `n` users, logged in 64 at a time.
    async fn users(self: &Arc<Self>, n: usize) -> Vec<String> {
        futures_util::stream::iter(0..n)
            .map(|_| {
                let c = self.clone();
                async move { c.new_user().await }
            })
            .buffer_unordered(64)
            .collect()
            .await
    }
}

fn report(name: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!(
        "{name}: {} requests in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let addr = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let c = Arc::new(Client {
        http: reqwest::Client::builder().pool_max_idle_per_host(1024).timeout(Duration::from_secs(60)).build().unwrap(),
        addr,
    });
    match mode.as_str() {
        "gifts" => {
            gifts(&c, arg(&args, "--viewers", 1000), arg(&args, "--senders", 200), arg(&args, "--gifts", 20_000)).await
        }
        "orders" => orders(&c, arg(&args, "--buyers", 10_000), arg(&args, "--stock", 100)).await,
        "grabs" => grabs(&c, arg(&args, "--grabbers", 500), arg(&args, "--packets", 10_000)).await,
        _ => eprintln!("usage: burst gifts|orders|grabs [--addr URL] [...]"),
    }
}

/// Concurrent gifts into a room that `viewers` sockets watch; every viewer must see every gift.
async fn gifts(c: &Arc<Client>, viewers: usize, senders: usize, total: usize) {
    let anchor = c.new_user().await;
    let (_, room) = c.post("/api/rooms", &anchor, json!({"title": "burst", "kind": "normal"})).await;
    let room = room["id"].as_i64().unwrap();
    let watchers = c.users(viewers.div_ceil(10)).await;
    let seen = Arc::new(AtomicU64::new(0));
    let mut sockets = vec![];
    for i in 0..viewers {
        let (_, t) = c.get(&format!("/api/rooms/{room}/im"), &watchers[i / 10]).await;
        let (ws, _) = tokio_tungstenite::connect_async(t["url"].as_str().unwrap()).await.unwrap();
        let seen = seen.clone();
        sockets.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let mut ping = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    m = rx.next() => match m {
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => if t.contains("\"type\":\"gift\"") { seen.fetch_add(1, Ordering::Relaxed); },
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = ping.tick() => { use futures_util::SinkExt; let _ = tx.send(tokio_tungstenite::tungstenite::Message::Text(r#"{"type":"ping"}"#.into())).await; }
                }
            }
        }));
    }
    let senders_t = c.users(senders).await;
    for s in &senders_t {
        for _ in 0..((total / senders) / 6480 + 1) {
            c.post("/api/wallet/recharges", s, json!({"product_id": 5})).await;
        }
    }
    println!("{viewers} viewers connected; {senders} senders with coins; sending {total} gifts (Rose, 1 coin)");
    let start = Instant::now();
    let per = total / senders;
    let lat: Vec<Vec<Duration>> = futures_util::future::join_all(senders_t.iter().map(|t| {
        let c = c.clone();
        let t = t.clone();
        async move {
            let mut v = Vec::with_capacity(per);
            for _ in 0..per {
                let s = Instant::now();
                let (st, b) = c.post(&format!("/api/rooms/{room}/gifts"), &t, json!({"gift_id": 1})).await;
                assert_eq!(st, 200, "{b}");
                v.push(s.elapsed());
            }
            v
        }
    }))
    .await;
    let wall = start.elapsed();
    report("gifts", lat.into_iter().flatten().collect(), wall);
    let want = (per * senders * viewers) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "gift frames delivered: {} of {} ({:.0} frames/s over the send window)",
        seen.load(Ordering::Relaxed),
        want,
        want as f64 / wall.as_secs_f64()
    );
    for s in sockets {
        s.abort();
    }
}

async fn approved_product(c: &Arc<Client>, anchor: &str, stock: usize) -> i64 {
    let admin = c.login_phone("13141150122").await;
    let (_, p) = c.post("/api/products", anchor, json!({"name": "Flash sale", "price": 1, "stock": stock})).await;
    let id = p["id"].as_i64().unwrap();
    c.post(&format!("/api/admin/products/{id}/approve"), &admin, json!({})).await;
    id
}

/// `buyers` race for `stock` units: exactly `stock` orders, nothing oversold.
async fn orders(c: &Arc<Client>, buyers: usize, stock: usize) {
    let anchor = c.new_user().await;
    let (_, room) = c.post("/api/rooms", &anchor, json!({"title": "flash sale", "kind": "normal"})).await;
    let room = room["id"].as_i64().unwrap();
    let p = approved_product(c, &anchor, stock).await;
    let ts = c.users(buyers).await;
    futures_util::stream::iter(ts.iter().cloned())
        .map(|t| { let c = c.clone(); async move { c.post(&format!("/api/rooms/{room}/cart/items"), &t, json!({"product_id": p, "count": 1})).await } })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await;
    // The floor under an order: the same crowd, all at once, reading their carts (HTTP, the
    // session, the cart's key-value read and the product), which an order does before its
    // reservation. What orders take beyond it is the stock path's own cost.
    let cart = format!("/api/rooms/{room}/cart");
    let (res, wall) = all_at_once(&ts, |t| {
        let c = c.clone();
        let cart = cart.clone();
        async move { c.get(&cart, &t).await.0 }
    })
    .await;
    let read = res.iter().filter(|(s, _)| *s == 200).count();
    report("reference: carts read", res.into_iter().map(|(_, d)| d).collect(), wall);
    println!("  ({read} of {buyers} answered 200)");

    println!("{buyers} buyers with 1 unit in their carts; stock {stock}; ordering all at once");
    let path = format!("/api/rooms/{room}/orders");
    let (res, wall) = all_at_once(&ts, |t| {
        let c = c.clone();
        let path = path.clone();
        async move { c.post(&path, &t, json!({})).await.0 }
    })
    .await;
    let ok = res.iter().filter(|(s, _)| *s == 201).count();
    let sold_out = res.iter().filter(|(s, _)| *s == 409).count();
    let other = res.len() - ok - sold_out;
    report("orders", res.iter().map(|(_, d)| *d).collect(), wall);
    let (_, shelf) = c.get(&format!("/api/rooms/{room}/products"), &anchor).await;
    let left = shelf["items"][0]["left"].as_i64().unwrap();
    println!(
        "reserved {ok}, sold_out {sold_out}, other {other}; left {left}; oversold {}",
        (ok as i64 + left - stock as i64).max(0)
    );
}

/// Every token's request started at the same moment; each answer's status and latency, and the
/// wall time until the last answer.
async fn all_at_once<F, Fut>(tokens: &[String], call: F) -> (Vec<(u16, Duration)>, Duration)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let start = Instant::now();
    let res = futures_util::future::join_all(tokens.iter().map(|t| {
        let fut = call(t.clone());
        async move {
            let s = Instant::now();
            let st = fut.await;
            (st, s.elapsed())
        }
    }))
    .await;
    (res, start.elapsed())
}

/// `grabbers` grab a rain of `packets` until it is empty.
async fn grabs(c: &Arc<Client>, grabbers: usize, packets: usize) {
    let anchor = c.new_user().await;
    let (_, room) = c.post("/api/rooms", &anchor, json!({"title": "rain", "kind": "normal"})).await;
    let room = room["id"].as_i64().unwrap();
    let total = packets * 3;
    let admin = c.login_phone("13141150122").await;
    let (_, a) =
        c.post("/api/red-packet/applications", &anchor, json!({"total_coins": total, "packets": packets})).await;
    c.post(&format!("/api/admin/red-packet/applications/{}/approve", a["id"]), &admin, json!({})).await;
    for _ in 0..(total / 6480 + 1) {
        c.post("/api/wallet/recharges", &anchor, json!({"product_id": 5})).await;
    }
    let (s, r) = c.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
    assert_eq!(s, 200, "{r}");
    c.post(&format!("/api/rooms/{room}/rain/start"), &anchor, json!({})).await;
    let ts = c.users(grabbers).await;
    println!("{grabbers} grabbers, {packets} packets, {total} coins");
    let start = Instant::now();
    let res: Vec<(i64, Vec<Duration>)> = futures_util::future::join_all(ts.iter().map(|t| {
        let c = c.clone();
        let t = t.clone();
        async move {
            let mut sum = 0;
            let mut v = vec![];
            loop {
                let s = Instant::now();
                let (st, b) = c.post(&format!("/api/rooms/{room}/rain/grab"), &t, json!({})).await;
                v.push(s.elapsed());
                match st {
                    200 => sum += b["amount"].as_i64().unwrap(),
                    409 => return (sum, v),
                    _ => panic!("grab {st} {b}"),
                }
            }
        }
    }))
    .await;
    let wall = start.elapsed();
    let coins: i64 = res.iter().map(|(s, _)| s).sum();
    report("grabs (incl. the final empty answers)", res.into_iter().flat_map(|(_, v)| v).collect(), wall);
    println!(
        "committed grabs: {packets} in {:.2} s = {:.0}/s; coins handed out {coins} of {total}",
        wall.as_secs_f64(),
        packets as f64 / wall.as_secs_f64()
    );
}
