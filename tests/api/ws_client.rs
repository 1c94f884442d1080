//! A small WebSocket client for the tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

pub type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub type RawWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Whether the server side of the TCP connection from `client_port` still exists (Linux).
pub fn server_holds_connection(server_port: u16, client_port: u16) -> bool {
    let port = |a: &str| a.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 2 && port(f[1]) == Some(server_port) && port(f[2]) == Some(client_port)
    })
}

pub struct Ws {
    pub inner: Stream,
    /// The close code once the server closed the socket.
    pub closed: Option<u16>,
}

/// What came off the socket.
#[derive(Debug)]
pub enum Got {
    Frame(Value),
    Closed(u16),
    Timeout,
}

impl TestApp {
    /// A ticket for `room` as `token`: (status, body).
    pub async fn ticket(&self, room: i64, token: &str) -> (reqwest::StatusCode, Value) {
        self.get(&format!("/api/rooms/{room}/im"), token).await
    }

    /// Connects `token` to `room`; returns the socket and its `welcome`.
    pub async fn join(&self, room: i64, token: &str) -> (Ws, Value) {
        let (s, b) = self.ticket(room, token).await;
        assert_eq!(s, 200, "im: {b}");
        let url = b["url"].as_str().unwrap();
        let (inner, _) = tokio_tungstenite::connect_async(url).await.expect("ws connects");
        let mut ws = Ws { inner, closed: None };
        let w = ws.expect("welcome").await;
        (ws, w)
    }

    /// A client that completes the handshake to `room` and then never reads: a tiny receive
    /// buffer, so the server's writes stall soon. Returns the socket and its local port.
    pub async fn never_reading(&self, room: i64, token: &str) -> (RawWs, u16) {
        let (s, b) = self.ticket(room, token).await;
        assert_eq!(s, 200, "im: {b}");
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        sock.connect(&addr.into()).unwrap();
        sock.set_nonblocking(true).unwrap();
        let port = sock.local_addr().unwrap().as_socket().unwrap().port();
        let tcp = tokio::net::TcpStream::from_std(std::net::TcpStream::from(sock)).unwrap();
        let (ws, _) = tokio_tungstenite::client_async(b["url"].as_str().unwrap(), tcp).await.unwrap();
        (ws, port)
    }

    /// The room's counts, from its actor.
    pub async fn snapshot(&self, room: i64) -> liveroom::actors::room::RoomSnapshot {
        let addr = self.state.rooms.get(room).expect("the room runs");
        addr.send(liveroom::actors::room::Snapshot).await.unwrap()
    }

    /// Opens a room as `token`; returns its id.
    pub async fn open_room(&self, token: &str, kind: &str) -> i64 {
        let (s, b) = self.post("/api/rooms", token, json!({"title": "test room", "kind": kind})).await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_i64().unwrap()
    }
}

impl Ws {
    pub async fn send(&mut self, v: Value) {
        self.inner.send(Message::Text(v.to_string())).await.expect("ws send");
    }

    pub async fn chat(&mut self, text: &str) {
        self.send(json!({"type": "chat", "data": {"text": text}})).await;
    }

    /// The next frame, close, or nothing within `t`.
    pub async fn next(&mut self, t: Duration) -> Got {
        if let Some(c) = self.closed {
            return Got::Closed(c);
        }
        loop {
            match tokio::time::timeout(t, self.inner.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) => {
                    self.closed = Some(1006);
                    return Got::Closed(1006);
                }
                Ok(Some(Err(_))) => {
                    self.closed = Some(1006);
                    return Got::Closed(1006);
                }
                Ok(Some(Ok(Message::Text(t)))) => return Got::Frame(serde_json::from_str(&t).expect("frame is JSON")),
                Ok(Some(Ok(Message::Close(c)))) => {
                    let code = c.map(|c| u16::from(c.code)).unwrap_or(1005);
                    self.closed = Some(code);
                    return Got::Closed(code);
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Whether a chat saying `text` arrives within `t` (other frames are skipped); panics if the
    /// socket closes.
    pub async fn until_chat(&mut self, text: &str, t: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Got::Frame(f) if f["type"] == "chat" && f["data"]["text"] == text => return true,
                Got::Frame(_) => continue,
                Got::Timeout => return false,
                other => panic!("waiting for the chat {text:?}: {other:?}"),
            }
        }
    }

    /// The next frame of `kind`, skipping snapshots (`online`, `likes`) and other kinds; panics
    /// after 10 s.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Got::Frame(f) if f["type"] == kind => return f,
                Got::Frame(_) => continue,
                other => panic!("waiting for {kind}: {other:?}"),
            }
        }
    }

    /// Waits for the server to close; returns the code.
    pub async fn expect_close(&mut self) -> u16 {
        loop {
            match self.next(Duration::from_secs(10)).await {
                Got::Closed(c) => return c,
                Got::Frame(_) => continue,
                Got::Timeout => panic!("socket not closed"),
            }
        }
    }

    /// True when no frame of `kind` arrives within `t`.
    pub async fn quiet_of(&mut self, kind: &str, t: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Got::Frame(f) if f["type"] == kind => return false,
                Got::Frame(_) => continue,
                _ => return true,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .inner
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }
}
