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
