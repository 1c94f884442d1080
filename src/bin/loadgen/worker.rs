//! Worker (`--worker`): a child process that holds its share of the viewers on sockets bound to
//! its own 127.0.0.x address, counts what they receive, and reports to the coordinator as JSON
//! lines on stdout (`connected`, then `report` once told `stop` on stdin).

use crate::args::{die, loopback, Args};
use crate::frames::{parse_chat, parse_gifts, PING};
use crate::hist::Hist;
use crate::net::{connect, http_client, ticket, Ws};
use crate::now_us;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default, Clone)]
struct ViewerStats {
    chats: u64,
    /// Paid gifts seen (a combo frame counts its `sends`), and gift frames.
    gifts: u64,
    gift_frames: u64,
    /// Seqs skipped between consecutive chat and gift frames on this socket.
    gaps: u64,
    first_seq: u64,
    last_seq: u64,
    /// Unix micros of the last chat frame received.
    last_rx_us: u64,
    closed: Option<u16>,
}

/// Latencies: chats from their send (`t=` in the text), gifts from their commit (`at`).
#[derive(Clone)]
struct Hists {
    chat: Rc<RefCell<Hist>>,
    gift: Rc<RefCell<Hist>>,
}

impl ViewerStats {
    /// A numbered frame arrived: seq continuity over chats and gifts.
    fn numbered(&mut self, seq: u64, now: u64) {
        if self.chats + self.gift_frames == 0 {
            self.first_seq = seq;
        } else if seq > self.last_seq + 1 {
            self.gaps += seq - self.last_seq - 1;
        }
        self.last_seq = seq;
        self.last_rx_us = now;
    }
}

async fn viewer(mut ws: Ws, hists: Hists, mut stop: tokio::sync::watch::Receiver<bool>) -> ViewerStats {
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
                        st.numbered(seq, now);
                        st.chats += 1;
                        if let Some(s) = sent {
                            hists.chat.borrow_mut().add(now.saturating_sub(s));
                        }
                    } else if let Some((seq, gifts)) = parse_gifts(&t) {
                        let now = now_us();
                        st.numbered(seq, now);
                        st.gift_frames += 1;
                        let mut h = hists.gift.borrow_mut();
                        // A combo's gifts count from the first one's commit: the latency of
                        // the one that waited longest, once for each gift it stands for.
                        for (sends, first_at) in gifts {
                            st.gifts += sends;
                            if let Some(s) = first_at {
                                for _ in 0..sends {
                                    h.add(now.saturating_sub(s));
                                }
                            }
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

pub(crate) fn worker(a: &Args) {
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
    let bare = a.flag("bare");
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
    let hists = Hists { chat: Rc::new(RefCell::new(Hist::new())), gift: Rc::new(RefCell::new(Hist::new())) };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sem = Rc::new(tokio::sync::Semaphore::new(conc));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<u64, String>>();
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for j in 0..n {
        let g = index + j * workers;
        let token = tokens[g % tokens.len()].clone();
        let (http, base, sem, hists, stop, done) =
            (http.clone(), base.clone(), sem.clone(), hists.clone(), stop_rx.clone(), done_tx.clone());
        handles.push(tokio::task::spawn_local(async move {
            let permit = sem.acquire().await;
            let t = Instant::now();
            let mut res = Err(String::new());
            for attempt in 0..3 {
                let r = async {
                    let url =
                        if bare { format!("ws://{server}/ws") } else { ticket(&http, &base, room, &token).await? };
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
                    Some(viewer(ws, hists, stop).await)
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
            "reset" => {
                *hists.chat.borrow_mut() = Hist::new();
                *hists.gift.borrow_mut() = Hist::new();
            }
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
    let per_viewer: Vec<[u64; 6]> =
        stats.iter().map(|s| [s.chats, s.first_seq, s.last_seq, s.gaps, s.gifts, s.gift_frames]).collect();
    let last_rx_us = stats.iter().map(|s| s.last_rx_us).max().unwrap_or(0);
    say(&json!({
        "ev": "report",
        "last_rx_us": last_rx_us,
        "hist": hists.chat.borrow().to_json(),
        "gift_hist": hists.gift.borrow().to_json(),
        "closed": closed,
        "viewers": per_viewer,
    }));
}

fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}
