//! `loadgen`: drives one Liveroom room over real WebSockets (issue 4, real-time path).
//!
//! The coordinator (default mode) logs users in, opens a room, spawns K worker processes of
//! itself (`--worker`), each holding its share of the V viewers on sockets bound to
//! 127.0.0.(2+k) (so no process nears its 20,000 open-file limit and no source address runs
//! out of ports), then opens S sender sockets that chat at R messages a second in total for D
//! seconds. Every chat text carries `t=<unix micros>` of its send; viewers read it back to get
//! send-to-receive latency (all processes share the machine clock). At the end it prints
//! delivered frames/s, lost frames per viewer (expected seqs minus received), latency
//! percentiles, the time to connect every viewer, and the server's CPU and memory read from
//! /proc/<pid>.
//!
//! Users: V viewer sockets are spread round-robin over U users (default V/20, so a few hundred
//! users with ~20 sockets each; every socket gets its own one-use ticket from `/im`). Users log
//! in 32 at a time before the clock for "connect" starts.
//!
//! ```text
//! loadgen --addr 127.0.0.1:18080 --viewers 10000 --senders 10 --rate 50 --duration 10 --workers 4
//! loadgen --addr 127.0.0.1:18080 --viewers 15000 --idle          # connect time and memory only
//! ```
//! Flags: --addr, --viewers V, --users U, --senders S, --rate R (chats/s, all senders),
//! --duration D (s, at most 30), --workers K, --conc C (connects in flight per worker),
//! --grace G (s to wait for stragglers after the last send), --server-pid P (default: the
//! process listening on the port), --idle, --settle (s before the idle RSS reading).
//! Only 127.0.0.x targets are accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

// ---------------------------------------------------------------------------------------------
// Flags

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Self {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(a) = it.next() {
            let Some(k) = a.strip_prefix("--") else {
                die(&format!("unexpected argument {a}"));
            };
            let v = match it.peek() {
                Some(n) if !n.starts_with("--") => it.next().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            m.insert(k.to_owned(), v);
        }
        Self(m)
    }
    fn str(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_owned())
    }
    fn num<T: std::str::FromStr>(&self, k: &str, d: T) -> T {
        match self.0.get(k) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("--{k}: not a number: {v}"))),
            None => d,
        }
    }
    fn flag(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn loopback(addr: &str) -> SocketAddr {
    let a: SocketAddr = addr.parse().unwrap_or_else(|_| die(&format!("--addr {addr}: want 127.0.0.x:port")));
    match a.ip() {
        IpAddr::V4(v4) if v4.octets()[..3] == [127, 0, 0] => a,
        _ => die("only 127.0.0.x targets are allowed"),
    }
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: log-linear buckets of microseconds (~3% resolution), mergeable as JSON.

const SUB: u32 = 32;

#[derive(Clone)]
struct Hist {
    b: Vec<u64>,
    max: u64,
}

impl Hist {
    fn new() -> Self {
        Self { b: vec![0; (64 + 60 * SUB) as usize], max: 0 }
    }
    fn index(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= 6
        let sub = ((v >> (e - 5)) & (SUB as u64 - 1)) as u32;
        (64 + (e - 6) * SUB + sub) as usize
    }
    fn value(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let i = i as u32 - 64;
        let e = i / SUB + 6;
        let sub = (i % SUB) as u64;
        ((SUB as u64 + sub) << (e - 5)) + (1 << (e - 5)) / 2
    }
    fn add(&mut self, v: u64) {
        self.b[Self::index(v)] += 1;
        self.max = self.max.max(v);
    }
    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.b.iter_mut().zip(&o.b) {
            *a += b;
        }
        self.max = self.max.max(o.max);
    }
    fn count(&self) -> u64 {
        self.b.iter().sum()
    }
    fn pct(&self, p: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let want = ((n as f64) * p).ceil().max(1.0) as u64;
        if want >= n {
            return self.max;
        }
        let mut c = 0;
        for (i, k) in self.b.iter().enumerate() {
            c += k;
            if c >= want {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
    fn to_json(&self) -> Value {
        let sparse: Vec<[u64; 2]> =
            self.b.iter().enumerate().filter(|(_, k)| **k > 0).map(|(i, k)| [i as u64, *k]).collect();
        json!({"b": sparse, "max": self.max})
    }
    fn from_json(v: &Value) -> Self {
        let mut h = Hist::new();
        for p in v["b"].as_array().into_iter().flatten() {
            let i = p[0].as_u64().unwrap_or(0) as usize;
            if i < h.b.len() {
                h.b[i] += p[1].as_u64().unwrap_or(0);
            }
        }
        h.max = v["max"].as_u64().unwrap_or(0);
        h
    }
}

// ---------------------------------------------------------------------------------------------
// Frames: the server's encoder writes `{"type":"chat","seq":N,"data":{..."text":"t=..."}}`, so a
// scan is enough (a full JSON parse per frame would cost the generator a core at 500k frames/s).

const CHAT_PREFIX: &str = r#"{"type":"chat","seq":"#;

fn digits(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// (seq, send time in unix micros) of a chat frame from this generator.
fn parse_chat(t: &str) -> Option<(u64, Option<u64>)> {
    let rest = t.strip_prefix(CHAT_PREFIX)?;
    let seq = digits(rest)?;
    let sent = rest.find(r#""text":"t="#).and_then(|i| digits(&rest[i + 10..]));
    Some((seq, sent))
}

const PING: &str = r#"{"type":"ping"}"#;

// ---------------------------------------------------------------------------------------------
// Connecting a socket from a chosen 127.0.0.x source address.

async fn ticket(http: &reqwest::Client, base: &str, room: i64, token: &str) -> anyhow::Result<String> {
    let r = http.get(format!("{base}/api/rooms/{room}/im")).bearer_auth(token).send().await?;
    let s = r.status();
    let b: Value = r.json().await?;
    if !s.is_success() {
        anyhow::bail!("/im {s}: {b}");
    }
    Ok(b["url"].as_str().unwrap_or_default().to_owned())
}

async fn connect(url: &str, server: SocketAddr, src: IpAddr) -> anyhow::Result<(Ws, Value)> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.bind(&SocketAddr::new(src, 0).into())?;
    sock.set_nodelay(true)?;
    sock.set_nonblocking(true)?;
    let std_stream: std::net::TcpStream = sock.into();
    let tcp = tokio::net::TcpSocket::from_std_stream(std_stream).connect(server).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    match first {
        Ok(Some(Ok(Message::Text(t)))) => {
            let v: Value = serde_json::from_str(&t)?;
            if v["type"] != "welcome" {
                anyhow::bail!("first frame is not welcome: {t}");
            }
            Ok((ws, v))
        }
        other => anyhow::bail!("no welcome: {other:?}"),
    }
}

fn http_client(src: Option<IpAddr>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().pool_max_idle_per_host(64).timeout(Duration::from_secs(30));
    if let Some(ip) = src {
        b = b.local_address(ip);
    }
    b.build().expect("http client")
}

// ---------------------------------------------------------------------------------------------
// Worker: holds its viewers, counts what they receive.

#[derive(Default, Clone)]
struct ViewerStats {
    chats: u64,
    /// Seqs skipped between consecutive chat frames on this socket.
    gaps: u64,
    first_seq: u64,
    last_seq: u64,
    /// Unix micros of the last chat frame received.
    last_rx_us: u64,
    closed: Option<u16>,
}

async fn viewer(mut ws: Ws, hist: Rc<RefCell<Hist>>, mut stop: tokio::sync::watch::Receiver<bool>) -> ViewerStats {
    let mut st = ViewerStats::default();
    let mut ping = tokio::time::interval(Duration::from_secs(5));
    ping.tick().await;
    loop {
        let mut need_ping = false;
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some((seq, sent)) = parse_chat(&t) {
                        let now = now_us();
                        if st.chats == 0 {
                            st.first_seq = seq;
                        } else if seq > st.last_seq + 1 {
                            st.gaps += seq - st.last_seq - 1;
                        }
                        st.last_seq = seq;
                        st.chats += 1;
                        st.last_rx_us = now;
                        if let Some(s) = sent {
                            hist.borrow_mut().add(now.saturating_sub(s));
                        }
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    st.closed = Some(c.map(|c| u16::from(c.code)).unwrap_or(1005));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { st.closed = Some(1006); break; }
            },
            _ = ping.tick() => need_ping = true,
            _ = stop.changed() => break,
        }
        if need_ping && ws.send(Message::Text(PING.into())).await.is_err() {
            st.closed = Some(1006);
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    st
}

fn worker(a: &Args) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, worker_main(a));
}

async fn worker_main(a: &Args) {
    let server = loopback(&a.str("addr", ""));
    let base = format!("http://{server}");
    let room: i64 = a.num("room", 0);
    let index: usize = a.num("index", 0);
    let workers: usize = a.num("workers", 1);
    let n: usize = a.num("viewers", 0);
    let conc: usize = a.num("conc", 64);
    let max_s: u64 = a.num("max-s", 180);
    let src: IpAddr = a.str("src", "127.0.0.2").parse().unwrap_or_else(|_| die("--src"));
    let tokens: Vec<String> = std::fs::read_to_string(a.str("tokens", ""))
        .unwrap_or_else(|e| die(&format!("--tokens: {e}")))
        .lines()
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        die("no tokens");
    }
    // Exit no matter what after max-s: a run is always bounded.
    tokio::task::spawn_local(async move {
        tokio::time::sleep(Duration::from_secs(max_s)).await;
        eprintln!("loadgen worker {index}: max-s reached, exiting");
        std::process::exit(3);
    });

    let http = http_client(Some(src));
    let hist = Rc::new(RefCell::new(Hist::new()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sem = Rc::new(tokio::sync::Semaphore::new(conc));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<u64, String>>();
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for j in 0..n {
        let g = index + j * workers;
        let token = tokens[g % tokens.len()].clone();
        let (http, base, sem, hist, stop, done) =
            (http.clone(), base.clone(), sem.clone(), hist.clone(), stop_rx.clone(), done_tx.clone());
        handles.push(tokio::task::spawn_local(async move {
            let permit = sem.acquire().await;
            let t = Instant::now();
            let mut res = Err(String::new());
            for attempt in 0..3 {
                let r = async {
                    let url = ticket(&http, &base, room, &token).await?;
                    connect(&url, server, src).await
                }
                .await;
                match r {
                    Ok(x) => {
                        res = Ok(x);
                        break;
                    }
                    Err(e) => {
                        res = Err(e.to_string());
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                }
            }
            drop(permit);
            match res {
                Ok((ws, _welcome)) => {
                    let _ = done.send(Ok(t.elapsed().as_micros() as u64));
                    Some(viewer(ws, hist, stop).await)
                }
                Err(e) => {
                    let _ = done.send(Err(e));
                    None
                }
            }
        }));
    }
    drop(done_tx);
    let (mut ok, mut failed, mut first_err) = (0u64, 0u64, None);
    let mut per_conn = Hist::new();
    while ok + failed < n as u64 {
        match done_rx.recv().await {
            Some(Ok(us)) => {
                ok += 1;
                per_conn.add(us);
            }
            Some(Err(e)) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
            None => break,
        }
    }
    say(&json!({
        "ev": "connected", "ok": ok, "failed": failed,
        "ms": t0.elapsed().as_millis() as u64,
        "p50_ms": per_conn.pct(0.5) / 1000, "p99_ms": per_conn.pct(0.99) / 1000,
        "first_err": first_err,
    }));

    // Wait for the coordinator: `reset` zeroes the latency histogram (connect-phase snapshots),
    // `stop` ends the run. EOF on stdin also ends it.
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        match l.trim() {
            "reset" => *hist.borrow_mut() = Hist::new(),
            "stop" => break,
            _ => {}
        }
    }
    let _ = stop_tx.send(true);
    let mut stats = Vec::with_capacity(n);
    for h in handles {
        if let Ok(Some(s)) = h.await {
            stats.push(s);
        }
    }
    let mut closed: HashMap<String, u64> = HashMap::new();
    for s in &stats {
        if let Some(c) = s.closed {
            *closed.entry(c.to_string()).or_default() += 1;
        }
    }
    let per_viewer: Vec<[u64; 4]> = stats.iter().map(|s| [s.chats, s.first_seq, s.last_seq, s.gaps]).collect();
    let last_rx_us = stats.iter().map(|s| s.last_rx_us).max().unwrap_or(0);
    say(&json!({
        "ev": "report",
        "last_rx_us": last_rx_us,
        "hist": hist.borrow().to_json(),
        "closed": closed,
        "viewers": per_viewer,
    }));
}

fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

// ---------------------------------------------------------------------------------------------
// /proc readings of a process.

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the comm field: state is field 3, utime 14 and stime 15 (1-based) of the full line.
    let get = |i: usize| f.get(i - 3).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    get(14) + get(15)
}

/// Busy clock ticks of the whole machine, all cores (from /proc/stat).
fn machine_busy_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> =
        s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = f.iter().take(8).sum();
    total - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
}

/// A `Vm*` line of /proc/<pid>/status, in KiB.
fn vm_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The pid of the process listening on `port` (from /proc/net/tcp and the fds of /proc/*).
fn pid_of_port(port: u16) -> Option<u32> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let want = format!(":{port:04X}");
    let inode = tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A").then(|| f[9].to_owned())
    })?;
    let target = format!("socket:[{inode}]");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).map(|p| p.to_string_lossy() == target).unwrap_or(false) {
                return Some(pid);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Coordinator.

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut r = http.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await?;
    let s = r.status();
    let b: Value = r.json().await.unwrap_or(Value::Null);
    if !s.is_success() {
        anyhow::bail!("POST {url}: {s} {b}");
    }
    Ok(b)
}

async fn login(http: &reqwest::Client, base: &str, phone: u64) -> anyhow::Result<String> {
    let phone = phone.to_string();
    post(http, &format!("{base}/api/auth/sms"), None, json!({"phone": phone})).await?;
    let b = post(http, &format!("{base}/api/auth/login"), None, json!({"phone": phone, "code": "1000"})).await?;
    Ok(b["token"].as_str().unwrap_or_default().to_owned())
}

/// Logs in `n` users with phones `first..first+n`, 32 at a time.
async fn login_many(http: &reqwest::Client, base: &str, first: u64, n: usize) -> Vec<String> {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            async move { login(&http, base, first + i as u64).await }
        })
        .buffered(32)
        .map(|r| r.unwrap_or_else(|e| die(&format!("login: {e}"))))
        .collect()
        .await
}

struct Child {
    pid: u32,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    proc: tokio::process::Child,
}

impl Child {
    async fn next_json(&mut self) -> Value {
        match self.lines.next_line().await {
            Ok(Some(l)) => serde_json::from_str(&l).unwrap_or_else(|_| json!({"ev": "junk", "line": l})),
            _ => json!({"ev": "eof"}),
        }
    }
    async fn tell(&mut self, s: &str) {
        let _ = self.stdin.write_all(format!("{s}\n").as_bytes()).await;
        let _ = self.stdin.flush().await;
    }
}

struct Sent {
    sent: AtomicU64,
    errors: AtomicU64,
}

/// One sender socket: chats every `period` from `start` until `end`, and reads (and counts)
/// whatever the room sends it so its queue never fills.
async fn sender(
    mut ws: Ws,
    id: usize,
    start: tokio::time::Instant,
    period: Duration,
    end: tokio::time::Instant,
    sent: Arc<Sent>,
) -> Ws {
    let mut tick = tokio::time::interval_at(start, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut ping = tokio::time::interval(Duration::from_secs(5));
    let mut n = 0u64;
    loop {
        let mut out: Option<String> = None;
        let mut is_chat = false;
        tokio::select! {
            t = tick.tick() => {
                if t >= end { break; }
                n += 1;
                is_chat = true;
                out = Some(json!({"type": "chat", "data": {"text": format!("t={} s={id} n={n}", now_us())}}).to_string());
            }
            _ = ping.tick() => out = Some(PING.to_owned()),
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.starts_with(r#"{"type":"error""#) {
                        sent.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("sender {id}: {t}");
                    }
                }
                Some(Ok(_)) => {}
                _ => die(&format!("sender {id} lost its socket")),
            }
        }
        if let Some(o) = out {
            if ws.send(Message::Text(o)).await.is_err() {
                die(&format!("sender {id}: send failed"));
            }
            if is_chat {
                sent.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    ws
}

fn coordinator(a: &Args) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(coordinator_main(a));
}

async fn coordinator_main(a: &Args) {
    let server = loopback(&a.str("addr", "127.0.0.1:8080"));
    let base = format!("http://{server}");
    let viewers: usize = a.num("viewers", 1000);
    let users: usize = a.num("users", viewers.div_ceil(20).max(1));
    let senders: usize = a.num("senders", 10);
    let rate: f64 = a.num("rate", 50.0);
    let duration: u64 = a.num("duration", 10);
    let workers: usize = a.num("workers", 4).max(1);
    let conc: usize = a.num("conc", 64);
    let grace: u64 = a.num("grace", 5);
    let idle = a.flag("idle");
    let settle: u64 = a.num("settle", 3);
    if duration > 30 {
        die("--duration is at most 30 s");
    }
    if workers > 200 {
        die("--workers is at most 200");
    }
    let spid: u32 = match a.0.get("server-pid") {
        Some(p) => p.parse().unwrap_or_else(|_| die("--server-pid")),
        None => pid_of_port(server.port()).unwrap_or_else(|| die("no process listens on that port; give --server-pid")),
    };
    let tck = clk_tck();
    let http = http_client(None);
    let dir = std::path::PathBuf::from(a.str("dir", "/tmp/lg"));
    let _ = std::fs::create_dir_all(&dir);

    // Fresh phones each run (the SMS endpoint refuses the same phone twice within 60 s).
    let run = now_us() % 90_000;
    let first_phone = 15_000_000_000 + run * 10_000;
    let t = Instant::now();
    let anchor = login(&http, &base, first_phone).await.unwrap_or_else(|e| die(&e.to_string()));
    let room = post(&http, &format!("{base}/api/rooms"), Some(&anchor), json!({"title": "loadgen", "kind": "normal"}))
        .await
        .unwrap_or_else(|e| die(&e.to_string()));
    let room_id = room["id"].as_i64().unwrap_or(0);
    let sender_tokens = login_many(&http, &base, first_phone + 1, senders).await;
    let tokens = login_many(&http, &base, first_phone + 1 + senders as u64, users).await;
    let login_s = t.elapsed().as_secs_f64();
    let tokens_file = dir.join(format!("tokens-{}.txt", std::process::id()));
    std::fs::write(&tokens_file, tokens.join("\n")).expect("tokens file");
    eprintln!(
        "room {room_id}: logged in {} users in {login_s:.1} s; connecting {viewers} viewers from {workers} workers",
        users + senders + 1
    );

    // Connect the viewers.
    let rss0 = vm_kib(spid, "VmRSS");
    let exe = std::env::current_exe().expect("exe");
    let t_connect = Instant::now();
    let mut kids = Vec::new();
    for k in 0..workers {
        let n = (viewers + workers - 1 - k) / workers;
        let mut p = tokio::process::Command::new(&exe)
            .args([
                "--worker".to_owned(),
                "--index".into(),
                k.to_string(),
                "--workers".into(),
                workers.to_string(),
                "--addr".into(),
                server.to_string(),
                "--room".into(),
                room_id.to_string(),
                "--viewers".into(),
                n.to_string(),
                "--tokens".into(),
                tokens_file.display().to_string(),
                "--src".into(),
                Ipv4Addr::new(127, 0, 0, 2 + k as u8).to_string(),
                "--conc".into(),
                conc.to_string(),
                "--max-s".into(),
                (duration + grace + 150).to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn worker");
        let stdin = p.stdin.take().expect("stdin");
        let lines = BufReader::new(p.stdout.take().expect("stdout")).lines();
        kids.push(Child { pid: p.id().unwrap_or(0), stdin, lines, proc: p });
    }
    let mut connected = 0u64;
    let mut conn_failed = 0u64;
    for c in kids.iter_mut() {
        let v = c.next_json().await;
        if v["ev"] != "connected" {
            die(&format!("worker: {v}"));
        }
        connected += v["ok"].as_u64().unwrap_or(0);
        conn_failed += v["failed"].as_u64().unwrap_or(0);
        if !v["first_err"].is_null() {
            eprintln!("worker connect error: {}", v["first_err"]);
        }
        eprintln!("worker: {v}");
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    eprintln!("{connected} viewers connected ({conn_failed} failed) in {connect_s:.2} s");

    let mut result = json!({
        "viewers": viewers, "users": users, "workers": workers, "login_s": login_s,
        "connected": connected, "connect_failed": conn_failed, "connect_s": connect_s,
        "server_pid": spid,
    });

    if idle {
        tokio::time::sleep(Duration::from_secs(settle)).await;
        let rss1 = vm_kib(spid, "VmRSS");
        result["rss_before_kib"] = rss0.into();
        result["rss_after_kib"] = rss1.into();
        result["kib_per_viewer"] = ((rss1 as f64 - rss0 as f64) / connected.max(1) as f64).into();
        result["server_hwm_kib"] = vm_kib(spid, "VmHWM").into();
        for c in kids.iter_mut() {
            c.tell("stop").await;
        }
        for c in kids.iter_mut() {
            let _ = c.next_json().await;
            let _ = c.proc.wait().await;
        }
        let _ = std::fs::remove_file(&tokens_file);
        println!("{result}");
        eprintln!(
            "IDLE viewers={connected} connect={connect_s:.2}s rss {} -> {} KiB = {:.1} KiB/viewer",
            rss0,
            rss1,
            result["kib_per_viewer"].as_f64().unwrap_or(0.0)
        );
        return;
    }

    // Senders (from 127.0.0.1), then the run.
    let mut sws = Vec::new();
    let mut seq0 = 0;
    for tok in &sender_tokens {
        let url = ticket(&http, &base, room_id, tok).await.unwrap_or_else(|e| die(&e.to_string()));
        let (ws, w) = connect(&url, server, IpAddr::V4(Ipv4Addr::LOCALHOST))
            .await
            .unwrap_or_else(|e| die(&format!("sender: {e}")));
        seq0 = w["data"]["last_seq"].as_u64().unwrap_or(0);
        sws.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // let `online` snapshots pass
    for c in kids.iter_mut() {
        c.tell("reset").await;
    }
    let sent = Arc::new(Sent { sent: AtomicU64::new(0), errors: AtomicU64::new(0) });
    let period = Duration::from_secs_f64(senders as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs(duration);
    let cpu_s0 = cpu_ticks(spid);
    let cpu_g0: u64 = kids.iter().map(|c| cpu_ticks(c.pid)).sum::<u64>() + cpu_ticks(std::process::id());
    let busy0 = machine_busy_ticks();
    let hwm0 = vm_kib(spid, "VmHWM");
    let t_run = Instant::now();
    let start_us = now_us() + 100_000;
    let tasks: Vec<_> = sws
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let offset = period.mul_f64(i as f64 / senders as f64);
            tokio::spawn(sender(ws, i, start + offset, period, end, sent.clone()))
        })
        .collect();
    let mut sws = Vec::new();
    for t in tasks {
        sws.push(t.await.expect("sender task"));
    }
    let cpu_s1 = cpu_ticks(spid);
    let cpu_g1: u64 = kids.iter().map(|c| cpu_ticks(c.pid)).sum::<u64>() + cpu_ticks(std::process::id());
    let busy1 = machine_busy_ticks();
    let wall = t_run.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(grace)).await;
    let total_sent = sent.sent.load(Ordering::Relaxed);
    let errors = sent.errors.load(Ordering::Relaxed);
    let accepted = total_sent - errors;
    for c in kids.iter_mut() {
        c.tell("stop").await;
    }
    let mut hist = Hist::new();
    let mut last_rx_us = 0u64;
    let mut closed: HashMap<String, u64> = HashMap::new();
    let (mut delivered, mut lost, mut with_loss, mut max_lost, mut gaps, mut counted) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for c in kids.iter_mut() {
        let v = c.next_json().await;
        if v["ev"] != "report" {
            die(&format!("worker report: {v}"));
        }
        hist.merge(&Hist::from_json(&v["hist"]));
        last_rx_us = last_rx_us.max(v["last_rx_us"].as_u64().unwrap_or(0));
        for (k, n) in v["closed"].as_object().into_iter().flatten() {
            *closed.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
        for s in v["viewers"].as_array().into_iter().flatten() {
            let got = s[0].as_u64().unwrap_or(0);
            delivered += got;
            gaps += s[3].as_u64().unwrap_or(0);
            let l = accepted.saturating_sub(got);
            lost += l;
            max_lost = max_lost.max(l);
            with_loss += (l > 0) as u64;
            counted += 1;
        }
        let _ = c.proc.wait().await;
    }
    // Viewers that never connected lost everything.
    let missing = viewers as u64 - counted;
    lost += missing * accepted;
    with_loss += missing;
    for ws in sws {
        let mut ws = ws;
        let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    }
    let _ = std::fs::remove_file(&tokens_file);

    let server_cpu = (cpu_s1 - cpu_s0) as f64 / tck / wall;
    let gen_cpu = (cpu_g1 - cpu_g0) as f64 / tck / wall;
    // Whatever else ran on the machine meanwhile (builds, tests): it competes for the cores.
    let other_cpu = ((busy1 - busy0) as f64 / tck / wall - server_cpu - gen_cpu).max(0.0);
    let expected = accepted * viewers as u64;
    result["senders"] = senders.into();
    result["rate"] = rate.into();
    result["duration_s"] = duration.into();
    result["seq0"] = seq0.into();
    result["chats_sent"] = total_sent.into();
    result["chat_errors"] = errors.into();
    result["frames_expected"] = expected.into();
    result["frames_delivered"] = delivered.into();
    result["delivered_per_s"] = (delivered as f64 / wall).into();
    // Sustained rate: from the first send to the last frame received (backlog included).
    let span_s = (last_rx_us.saturating_sub(start_us) as f64 / 1e6).max(1e-3);
    result["sustained_per_s"] = (delivered as f64 / span_s).into();
    result["offered_per_s"] = (rate * viewers as f64).into();
    result["lost_frames"] = lost.into();
    result["viewers_with_loss"] = with_loss.into();
    result["max_lost_per_viewer"] = max_lost.into();
    result["seq_gaps"] = gaps.into();
    result["closed"] = json!(closed);
    result["latency_ms"] = json!({
        "count": hist.count(),
        "p50": hist.pct(0.50) as f64 / 1000.0,
        "p90": hist.pct(0.90) as f64 / 1000.0,
        "p99": hist.pct(0.99) as f64 / 1000.0,
        "max": hist.max as f64 / 1000.0,
    });
    result["server_cpu_cores"] = server_cpu.into();
    result["generator_cpu_cores"] = gen_cpu.into();
    result["other_cpu_cores"] = other_cpu.into();
    result["server_rss_kib"] = vm_kib(spid, "VmRSS").into();
    result["server_hwm_kib"] = vm_kib(spid, "VmHWM").into();
    result["server_hwm_before_run_kib"] = hwm0.into();
    println!("{result}");
    eprintln!(
        "RUN viewers={connected}/{viewers} chats={accepted}/{total_sent} delivered={delivered}/{expected} ({:.0}/s in the send window, {:.0}/s sustained, of {:.0}/s offered) lost={lost} (viewers with loss {with_loss}, max {max_lost}) \
         latency p50={:.1}ms p99={:.1}ms max={:.1}ms cpu server={server_cpu:.2} gen={gen_cpu:.2} other={other_cpu:.2} cores hwm={} KiB closed={closed:?} connect={connect_s:.2}s",
        delivered as f64 / wall,
        delivered as f64 / span_s,
        rate * viewers as f64,
        hist.pct(0.5) as f64 / 1000.0,
        hist.pct(0.99) as f64 / 1000.0,
        hist.max as f64 / 1000.0,
        vm_kib(spid, "VmHWM"),
    );
}

fn main() {
    let a = Args::parse();
    if a.flag("worker") {
        worker(&a);
    } else {
        coordinator(&a);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_close() {
        let mut h = Hist::new();
        for v in 1..=100_000u64 {
            h.add(v);
        }
        for (p, want) in [(0.5, 50_000.0), (0.99, 99_000.0)] {
            let got = h.pct(p) as f64;
            assert!((got - want).abs() / want < 0.04, "p{p}: {got}");
        }
        assert_eq!(h.pct(1.0), 100_000);
        let back = Hist::from_json(&h.to_json());
        assert_eq!(back.count(), 100_000);
    }

    #[test]
    fn chat_frames_are_scanned() {
        let f = r#"{"type":"chat","seq":42,"data":{"at":"x","from":{"id":1,"nickname":"n"},"text":"t=1234 s=0 n=1"}}"#;
        assert_eq!(parse_chat(f), Some((42, Some(1234))));
        assert_eq!(parse_chat(r#"{"type":"online","data":{"count":3}}"#), None);
    }
}
