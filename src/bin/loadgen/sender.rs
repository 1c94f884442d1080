//! Sender sockets: the few sockets that chat at the requested rate, each text stamped with its
//! send time so that viewers can measure latency.

use crate::args::die;
use crate::frames::PING;
use crate::net::Ws;
use crate::now_us;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub(crate) struct Sent {
    pub(crate) sent: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// One sender socket: chats every `period` from `start` until `end`, and reads (and counts)
/// whatever the room sends it so its queue never fills.
pub(crate) async fn sender(
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

/// What the gifters did: gifts paid (200), refused, and each request's time.
pub(crate) struct Gifted {
    pub(crate) ok: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) http: std::sync::Mutex<crate::hist::Hist>,
}

/// One gifter: a rose (gift 1, 1 coin) to the room's anchor every `period` from `start` until
/// `end`, one request at a time (a slow server slows it down rather than piling requests up).
/// A tick missed while an answer was late is sent as soon as the answer comes, as the chat
/// senders do: with ticks skipped instead, every answer slower than the period (one in ten at
/// 7 ms median) lost a gift for good, and the offered rate fell with the latency's tail even
/// where the server kept up on average.
pub(crate) async fn gifter(
    http: reqwest::Client,
    url: String,
    token: String,
    start: tokio::time::Instant,
    period: Duration,
    end: tokio::time::Instant,
    out: Arc<Gifted>,
) {
    let mut tick = tokio::time::interval_at(start, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        if tick.tick().await >= end {
            break;
        }
        let t = now_us();
        let ok = match http.post(&url).bearer_auth(&token).json(&json!({"gift_id": 1})).send().await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        };
        if let Ok(mut h) = out.http.lock() {
            h.add(now_us().saturating_sub(t));
        }
        let n = if ok { &out.ok } else { &out.refused };
        n.fetch_add(1, Ordering::Relaxed);
    }
}
