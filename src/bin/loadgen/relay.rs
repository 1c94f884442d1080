//! `loadgen --relay`: the reference every real-time figure is a ratio to. A bare WebSocket relay
//! as one would write it with tokio-tungstenite and nothing else: no accounts, no tickets, no
//! storage, no rate limits. Every chat a socket sends gets the next seq and goes to every socket
//! through one broadcast channel; each socket's task drains what is queued and writes it in one
//! go (frames merged per write). It speaks just enough of Liveroom's protocol for the same
//! generator to drive it (`loadgen --bare`): a `welcome` first, `chat` frames of the same shape
//! and size, `pong` for `ping`.
//!
//! ```text
//! taskset -c 0 loadgen --relay --listen 127.0.0.1:18090
//! taskset -c 1 loadgen --bare --addr 127.0.0.1:18090 --viewers 10000 --rate 50 --duration 10
//! ```

use crate::args::{die, loopback, Args};
use futures_util::{SinkExt, StreamExt};
use std::cell::Cell;
use std::rc::Rc;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How many frames a socket may fall behind before it is dropped (as Liveroom's 4001).
const BACKLOG: usize = 4096;

pub(crate) fn relay(a: &Args) {
    let listen = loopback(&a.str("listen", "127.0.0.1:18090"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let l = tokio::net::TcpListener::bind(listen).await.unwrap_or_else(|e| die(&format!("--listen: {e}")));
        eprintln!("relay listening on ws://{listen}/ws");
        let (tx, _) = broadcast::channel::<Rc<str>>(BACKLOG);
        let seq = Rc::new(Cell::new(0u64));
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            tokio::task::spawn_local(socket(s, tx.clone(), seq.clone()));
        }
    });
}

async fn socket(s: tokio::net::TcpStream, tx: broadcast::Sender<Rc<str>>, seq: Rc<Cell<u64>>) {
    let Ok(ws) = tokio_tungstenite::accept_async(s).await else { return };
    let (mut out, mut inp) = ws.split();
    let mut rx = tx.subscribe();
    let welcome = format!(r#"{{"type":"welcome","data":{{"last_seq":{}}}}}"#, seq.get());
    if out.send(Message::Text(welcome)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            m = inp.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.contains(r#""type":"ping""#) {
                        if out.send(Message::Text(r#"{"type":"pong"}"#.to_owned())).await.is_err() {
                            return;
                        }
                    } else if let Some(text) = chat_text(&t) {
                        let n = seq.get() + 1;
                        seq.set(n);
                        let frame = format!(
                            r#"{{"type":"chat","seq":{n},"data":{{"from":{{"id":1,"nickname":"user 15000000001"}},"text":"{text}","at":"2026-11-30T09:00:00.000000Z"}}}}"#
                        );
                        let _ = tx.send(frame.into());
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            f = rx.recv() => match f {
                Ok(f) => {
                    // Everything queued goes out in one write.
                    let mut batch = vec![f];
                    while let Ok(f) = rx.try_recv() {
                        batch.push(f);
                    }
                    for f in batch {
                        if out.feed(Message::Text(f.to_string())).await.is_err() {
                            return;
                        }
                    }
                    if out.flush().await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let bye = CloseFrame { code: CloseCode::Library(4001), reason: "too slow".into() };
                    let _ = out.send(Message::Close(Some(bye))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// The text of a `{"type":"chat","data":{"text":"..."}}` frame (the generator's texts need no
/// escaping).
fn chat_text(t: &str) -> Option<&str> {
    if !t.contains(r#""type":"chat""#) {
        return None;
    }
    let i = t.find(r#""text":""#)? + 8;
    let rest = &t[i..];
    Some(&rest[..rest.find('"')?])
}
