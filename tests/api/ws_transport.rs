//! The WebSocket's own transport (issue 14): after the handshake the connection leaves
//! actix-http, so what actix-http did for it is checked here: refusals in the contract's JSON,
//! WebSocket-level ping and close, client frames that arrive in pieces, and a burst of room
//! frames written in batches that still arrives whole and in order.

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, Message};

/// The status and JSON body of a refused WebSocket handshake.
async fn refused(url: &str) -> (u16, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(r)) => {
            let body = r.body().clone().unwrap_or_default();
            (r.status().as_u16(), serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
        other => panic!("{url}: {:?}", other.map(|_| ())),
    }
}

#[actix_web::test]
async fn refused_handshakes_answer_the_contract_error_and_other_upgrades_are_not_found() {
    let app = spawn_app(backend_sets()[0]).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (s, b) = refused(&format!("ws://127.0.0.1:{}/ws?ticket=nope", app.port)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("unauthorized")), "{b}");
    let (s, b) = refused(&format!("ws://127.0.0.1:{}/ws", app.port)).await;
    assert_eq!(s, 401, "{b}");
    let (s, b) = refused(&format!("ws://127.0.0.1:{}/api/rooms", app.port)).await;
    assert_eq!(s, 404, "{b}");
    // A closed room: 409 with the contract's code.
    let (_, t) = app.ticket(room, &anchor).await;
    let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
    assert_eq!(s, 204);
    let (s, b) = refused(t["url"].as_str().unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("room_closed")), "{b}");
    // Not a handshake at all.
    let r = app.http.get(format!("http://127.0.0.1:{}/ws?ticket=x", app.port)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // A handshake without its key.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    tcp.write_all(b"GET /ws?ticket=x HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut head = String::new();
    tcp.read_to_string(&mut head).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(head.contains("\"code\""), "a JSON error body: {head}");
    // The server still serves.
    let (s, _) = app.get("/api/rooms", &anchor).await;
    assert_eq!(s, 200);
}

#[actix_web::test]
async fn a_websocket_ping_gets_its_pong_and_a_client_close_gets_a_close_back() {
    let app = spawn_app(backend_sets()[0]).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut ws, _) = app.join(room, &anchor).await;
    ws.inner.send(Message::Ping(b"are you there".to_vec())).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.inner.next().await {
                Some(Ok(Message::Pong(p))) => return p,
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("a pong");
    assert_eq!(pong, b"are you there");
    ws.inner.send(Message::Close(None)).await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.inner.next().await {
                Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => continue,
                other => panic!("no close frame back: {other:?}"),
            }
        }
    })
    .await
    .expect("a close back");
    assert_eq!(code, Some(1000));
}

#[actix_web::test]
async fn a_client_frame_that_arrives_in_pieces_is_read_whole() {
    let app = spawn_app(backend_sets()[0]).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (_, t) = app.ticket(room, &anchor).await;
    let url = t["url"].as_str().unwrap();
    let path = &url[url.find("/ws").unwrap()..];
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    // A masked text frame, sent a few bytes at a time.
    let payload = br#"{"type":"chat","data":{"text":"in pieces"}}"#;
    let mask = [7u8, 1, 9, 3];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    // The 101 and the welcome first.
    while !String::from_utf8_lossy(&read).contains("welcome") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0);
        read.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&read).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    for piece in frame.chunks(3) {
        tcp.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("in pieces") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(got.is_ok(), "the chat sent in pieces came back");
}

#[actix_web::test]
async fn a_burst_of_room_frames_reaches_every_viewer_whole_and_in_order() {
    let app = spawn_app(backend_sets()[0]).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let mut viewers = Vec::new();
    for _ in 0..20 {
        let (v, _) = app.new_user().await;
        viewers.push(app.join(room, &v).await.0);
    }
    // Likes are coalesced; chats are limited per user: each of 20 viewers chats 5 times at once,
    // so the room numbers 100 frames in a burst and every socket gets them in batches.
    for v in viewers.iter_mut() {
        for i in 0..5 {
            v.chat(&format!("burst {i}")).await;
        }
    }
    for v in viewers.iter_mut() {
        let mut last = 0;
        for _ in 0..100 {
            let f = v.expect("chat").await;
            let seq = f["seq"].as_u64().unwrap();
            assert!(seq > last, "in order: {seq} after {last}");
            last = seq;
        }
    }
}
