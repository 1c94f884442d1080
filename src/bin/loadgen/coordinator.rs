//! Coordinator (the default mode): logs users in, opens the room, spawns the worker processes,
//! runs the senders, gathers the workers' reports and prints the result (JSON on stdout, a
//! one-line summary on stderr).

use crate::args::{die, loopback, Args};
use crate::hist::Hist;
use crate::net::{connect, http_client, login, login_many, post, ticket};
use crate::now_us;
use crate::procfs::{clk_tck, cpu_ticks, machine_busy_ticks, pid_of_port, vm_kib};
use crate::sender::{gifter, sender, Gifted, Sent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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

pub(crate) fn coordinator(a: &Args) {
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
    // Gifts alongside the chats: `--gifts` a second in all, from `--gifters` users.
    let gifts: f64 = a.num("gifts", 0.0);
    let gifters: usize = if gifts > 0.0 { a.num("gifters", 50).max(1) } else { 0 };
    if gifts > 0.0 && a.flag("bare") {
        die("--gifts needs a Liveroom server (the relay has no gifts)");
    }
    if duration > 30 {
        die("--duration is at most 30 s");
    }
    if workers > 200 {
        die("--workers is at most 200");
    }
    // A cluster: `--nodes a,b,c` spreads the workers' viewers over the nodes (worker k on node
    // k mod n); logins, the room and the senders use `--addr`. CPU and memory are summed over
    // every node's process.
    let nodes: Vec<std::net::SocketAddr> = match a.0.get("nodes") {
        Some(list) => list.split(',').map(loopback).collect(),
        None => vec![server],
    };
    let spids: Vec<u32> = match a.0.get("server-pid") {
        Some(p) => vec![p.parse().unwrap_or_else(|_| die("--server-pid"))],
        None => nodes
            .iter()
            .map(|n| pid_of_port(n.port()).unwrap_or_else(|| die("no process listens on that port; give --server-pid")))
            .collect(),
    };
    let spid = spids[0];
    let vm_kib = |_: u32, field: &str| spids.iter().map(|p| vm_kib(*p, field)).sum::<u64>();
    let cpu_ticks_all = || spids.iter().map(|p| cpu_ticks(*p)).sum::<u64>();
    let tck = clk_tck();
    let http = http_client(None);
    let dir = std::path::PathBuf::from(a.str("dir", "/tmp/lg"));
    let _ = std::fs::create_dir_all(&dir);

    // `--bare`: the reference relay (`loadgen --relay`) has no accounts, rooms or tickets.
    let bare = a.flag("bare");
    let t = Instant::now();
    let (room_id, sender_tokens, tokens, gifter_tokens) = if bare {
        (0, vec![String::new(); senders], vec!["-".to_owned()], vec![])
    } else {
        // Fresh phones each run (the SMS endpoint refuses the same phone twice within 60 s).
        let run = now_us() % 90_000;
        let first_phone = 15_000_000_000 + run * 10_000;
        let anchor = login(&http, &base, first_phone).await.unwrap_or_else(|e| die(&e.to_string()));
        let room =
            post(&http, &format!("{base}/api/rooms"), Some(&anchor), json!({"title": "loadgen", "kind": "normal"}))
                .await
                .unwrap_or_else(|e| die(&e.to_string()));
        let sender_tokens = login_many(&http, &base, first_phone + 1, senders).await;
        let tokens = login_many(&http, &base, first_phone + 1 + senders as u64, users).await;
        let gifter_tokens = login_many(&http, &base, first_phone + 1 + (senders + users) as u64, gifters).await;
        for t in &gifter_tokens {
            // 6,480 coins each: far more roses than a run sends.
            post(&http, &format!("{base}/api/wallet/recharges"), Some(t), json!({"product_id": 5}))
                .await
                .unwrap_or_else(|e| die(&format!("recharge: {e}")));
        }
        (room["id"].as_i64().unwrap_or(0), sender_tokens, tokens, gifter_tokens)
    };
    let login_s = t.elapsed().as_secs_f64();
    let tokens_file = dir.join(format!("tokens-{}.txt", std::process::id()));
    std::fs::write(&tokens_file, tokens.join("\n")).expect("tokens file");
    eprintln!(
        "room {room_id}: logged in {} users in {login_s:.1} s; connecting {viewers} viewers from {workers} workers",
        users + senders + gifters + 1
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
                nodes[k % nodes.len()].to_string(),
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
            .args(bare.then_some("--bare"))
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
        let url = if bare {
            format!("ws://{server}/ws")
        } else {
            ticket(&http, &base, room_id, tok).await.unwrap_or_else(|e| die(&e.to_string()))
        };
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
    let gifted = Arc::new(Gifted { ok: AtomicU64::new(0), refused: AtomicU64::new(0), http: Default::default() });
    let period = Duration::from_secs_f64(senders as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs(duration);
    let cpu_s0 = cpu_ticks_all();
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
    let gift_url = format!("{base}/api/rooms/{room_id}/gifts");
    let gift_period = Duration::from_secs_f64(gifters as f64 / gifts.max(1e-9));
    let gift_tasks: Vec<_> = gifter_tokens
        .iter()
        .enumerate()
        .map(|(i, tok)| {
            let offset = gift_period.mul_f64(i as f64 / gifters as f64);
            let (http, url, tok) = (http.clone(), gift_url.clone(), tok.clone());
            tokio::spawn(gifter(http, url, tok, start + offset, gift_period, end, gifted.clone()))
        })
        .collect();
    let mut sws = Vec::new();
    for t in tasks {
        sws.push(t.await.expect("sender task"));
    }
    for t in gift_tasks {
        t.await.expect("gifter task");
    }
    let cpu_s1 = cpu_ticks_all();
    let cpu_g1: u64 = kids.iter().map(|c| cpu_ticks(c.pid)).sum::<u64>() + cpu_ticks(std::process::id());
    let busy1 = machine_busy_ticks();
    let wall = t_run.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(grace)).await;
    let total_sent = sent.sent.load(Ordering::Relaxed);
    let errors = sent.errors.load(Ordering::Relaxed);
    let chats_accepted = total_sent - errors;
    let gifts_ok = gifted.ok.load(Ordering::Relaxed);
    // Every viewer should see every accepted chat and every paid gift.
    let accepted = chats_accepted + gifts_ok;
    for c in kids.iter_mut() {
        c.tell("stop").await;
    }
    let mut hist = Hist::new();
    let mut gift_hist = Hist::new();
    let mut last_rx_us = 0u64;
    let mut closed: HashMap<String, u64> = HashMap::new();
    let (mut delivered, mut lost, mut with_loss, mut max_lost, mut gaps, mut counted) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    // Frames on the wire: chats, and gift frames (fewer than gifts when combos merged them).
    let mut wire_frames = 0u64;
    for c in kids.iter_mut() {
        let v = c.next_json().await;
        if v["ev"] != "report" {
            die(&format!("worker report: {v}"));
        }
        hist.merge(&Hist::from_json(&v["hist"]));
        gift_hist.merge(&Hist::from_json(&v["gift_hist"]));
        last_rx_us = last_rx_us.max(v["last_rx_us"].as_u64().unwrap_or(0));
        for (k, n) in v["closed"].as_object().into_iter().flatten() {
            *closed.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
        for s in v["viewers"].as_array().into_iter().flatten() {
            let got = s[0].as_u64().unwrap_or(0) + s[4].as_u64().unwrap_or(0);
            delivered += got;
            wire_frames += s[0].as_u64().unwrap_or(0) + s[5].as_u64().unwrap_or(0);
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
    let offered_rate = if senders > 0 { rate } else { 0.0 } + gifts;
    result["senders"] = senders.into();
    result["rate"] = rate.into();
    result["duration_s"] = duration.into();
    result["seq0"] = seq0.into();
    result["chats_sent"] = total_sent.into();
    result["chat_errors"] = errors.into();
    if gifters > 0 {
        let http_hist = gifted.http.lock().map(|h| h.clone()).unwrap_or_else(|_| Hist::new());
        result["gifts_offered_per_s"] = gifts.into();
        result["gifts_paid"] = gifts_ok.into();
        result["gifts_refused"] = gifted.refused.load(Ordering::Relaxed).into();
        result["gifts_paid_per_s"] = (gifts_ok as f64 / wall).into();
        result["gift_request_ms"] = http_hist.to_ms_json();
        // From the gift's commit (`at`; a combo's first gift's, `first_at`) to the viewer's
        // receipt.
        result["gift_latency_ms"] = gift_hist.to_ms_json();
    }
    result["frames_expected"] = expected.into();
    result["frames_delivered"] = delivered.into();
    result["delivered_per_s"] = (delivered as f64 / wall).into();
    // What went over the wire: a combo frame carries several gifts (same as delivered without).
    result["wire_frames_per_s"] = (wire_frames as f64 / wall).into();
    // Sustained rate: from the first send to the last frame received (backlog included).
    let span_s = (last_rx_us.saturating_sub(start_us) as f64 / 1e6).max(1e-3);
    result["sustained_per_s"] = (delivered as f64 / span_s).into();
    result["offered_per_s"] = (offered_rate * viewers as f64).into();
    result["lost_frames"] = lost.into();
    result["viewers_with_loss"] = with_loss.into();
    result["max_lost_per_viewer"] = max_lost.into();
    result["seq_gaps"] = gaps.into();
    result["closed"] = json!(closed);
    result["latency_ms"] = hist.to_ms_json();
    result["server_cpu_cores"] = server_cpu.into();
    result["generator_cpu_cores"] = gen_cpu.into();
    result["other_cpu_cores"] = other_cpu.into();
    result["server_rss_kib"] = vm_kib(spid, "VmRSS").into();
    result["server_hwm_kib"] = vm_kib(spid, "VmHWM").into();
    result["server_hwm_before_run_kib"] = hwm0.into();
    println!("{result}");
    eprintln!(
        "RUN viewers={connected}/{viewers} chats={chats_accepted}/{total_sent} gifts={gifts_ok} (gift p99 {:.1}ms) delivered={delivered}/{expected} ({:.0}/s in the send window, {:.0}/s sustained, of {:.0}/s offered; {:.0} frames/s on the wire) lost={lost} (viewers with loss {with_loss}, max {max_lost}) \
         latency p50={:.1}ms p99={:.1}ms max={:.1}ms cpu server={server_cpu:.2} gen={gen_cpu:.2} other={other_cpu:.2} cores hwm={} KiB closed={closed:?} connect={connect_s:.2}s",
        gift_hist.pct(0.99) as f64 / 1000.0,
        delivered as f64 / wall,
        delivered as f64 / span_s,
        offered_rate * viewers as f64,
        wire_frames as f64 / wall,
        hist.pct(0.5) as f64 / 1000.0,
        hist.pct(0.99) as f64 / 1000.0,
        hist.max as f64 / 1000.0,
        vm_kib(spid, "VmHWM"),
    );
}
