//! The WebSocket: tickets, welcome, chat, every client frame, close codes, resume, moderation
//! in the room, notices, supervision, and a thousand viewers.

use crate::helpers::*;
use crate::ws_client::{server_holds_connection, Got};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn a_ticket_is_one_use_and_bound_to_its_room() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (s, b) = app.ticket(room, &anchor).await;
        assert_eq!(s, 200);
        assert_eq!(b["expires_in"], 30);
        let url = b["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with("ws://127.0.0.1:") && url.contains("/ws?ticket="), "{url}");
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.expect("first use works");
        drop(ws);
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
            other => panic!("reused ticket: {:?}", other.map(|_| ())),
        }
        let bad = format!("ws://127.0.0.1:{}/ws?ticket=nope", app.port);
        match tokio_tungstenite::connect_async(&bad).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
            other => panic!("bad ticket: {:?}", other.map(|_| ())),
        }
    }
}

#[actix_web::test]
async fn welcome_then_chat_reaches_everyone_in_seq_order() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, aid) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, vid) = app.new_user().await;
        let (mut a, w) = app.join(room, &anchor).await;
        let d = &w["data"];
        assert_eq!(d["room"]["id"], room);
        assert_eq!(d["you"]["id"], aid);
        assert_eq!(d["online"], 1);
        assert_eq!(d["last_seq"], 0);
        assert_eq!(d["recent"], json!([]));
        assert_eq!(d["slow_mode"], 0);
        let (mut v, w) = app.join(room, &viewer).await;
        assert_eq!(w["data"]["online"], 2);
        v.chat("hello anchor").await;
        // Wait for the first to land so the order of the two senders is known.
        let first = a.expect("chat").await;
        a.chat("  welcome!  ").await;
        let second = a.expect("chat").await;
        for (ws, (c1, c2)) in [(&mut v, (None, None)), (&mut a, (Some(first), Some(second)))] {
            let c1 = match c1 {
                Some(c) => c,
                None => ws.expect("chat").await,
            };
            let c2 = match c2 {
                Some(c) => c,
                None => ws.expect("chat").await,
            };
            assert_eq!((c1["seq"].as_u64(), c2["seq"].as_u64()), (Some(1), Some(2)));
            assert_eq!(c1["data"]["from"], json!({"id": vid, "nickname": c1["data"]["from"]["nickname"]}));
            assert_eq!(c1["data"]["text"], "hello anchor");
            assert_eq!(c2["data"]["text"], "welcome!");
            assert!(c1["data"]["at"].as_str().unwrap().ends_with('Z'));
        }
        // A newcomer sees the recent chats.
        let (late, _) = app.new_user().await;
        let (_l, w) = app.join(room, &late).await;
        assert_eq!(w["data"]["last_seq"], 2);
        assert_eq!(w["data"]["recent"].as_array().unwrap().len(), 2);
        assert_eq!(w["data"]["recent"][1]["data"]["text"], "welcome!");
    }
}

#[actix_web::test]
async fn online_counts_distinct_users_and_is_coalesced() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    let (viewer, _) = app.new_user().await;
    let (_v1, _) = app.join(room, &viewer).await;
    let (_v2, w) = app.join(room, &viewer).await;
    assert_eq!(w["data"]["online"], 2, "one user with two sockets counts once");
    let o = a.expect("online").await;
    assert_eq!(o["data"]["count"], 2);
    assert!(o.get("seq").is_none());
    // Three joins, one frame a second at most.
    assert!(a.quiet_of("online", Duration::from_millis(1500)).await);
    let (s, r) = app.get(&format!("/api/rooms/{room}"), &anchor).await;
    assert_eq!((s.as_u16(), r["online"].as_i64()), (200, Some(2)));
}

#[actix_web::test]
async fn likes_are_totalled_once_a_second() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    for _ in 0..10 {
        a.send(json!({"type": "like", "data": {"count": 5}})).await;
    }
    a.send(json!({"type": "like"})).await;
    let mut total = 0;
    while total < 51 {
        let l = a.expect("likes").await;
        total = l["data"]["total"].as_i64().unwrap();
    }
    assert_eq!(total, 51);
    a.send(json!({"type": "like", "data": {"count": 51}})).await;
    let e = a.expect("error").await;
    assert_eq!(e["data"]["code"], "invalid_input");
}

#[actix_web::test]
async fn viewers_entering_at_once_are_one_entered_line_naming_the_latest() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    let mut viewers = vec![];
    let mut names = vec![];
    for i in 0..6 {
        let (t, id) = app.new_user().await;
        let nickname = format!("Guest {i}");
        let (s, _) = app.call(reqwest::Method::PATCH, "/api/me", Some(&t), Some(json!({"nickname": nickname}))).await;
        assert_eq!(s, 200);
        names.push(json!({"id": id, "nickname": nickname}));
        viewers.push(t);
    }
    let mut sockets = vec![];
    for t in &viewers {
        sockets.push(app.join(room, t).await.0);
    }
    // A second socket of someone already in is not a new entrance.
    sockets.push(app.join(room, &viewers[5]).await.0);
    let mut seen = 0;
    let mut last = Value::Null;
    while seen < 6 {
        let e = a.expect("entered").await;
        assert!(e.get("seq").is_none(), "a snapshot, not a numbered event: {e}");
        seen += e["data"]["count"].as_u64().unwrap();
        last = e["data"]["users"].clone();
    }
    assert_eq!(seen, 6, "each viewer once, the anchor not at all");
    assert_eq!(last.as_array().unwrap().last(), Some(&names[5]), "the latest is named");
    assert!(last.as_array().unwrap().len() <= 3);
    assert!(a.quiet_of("entered", Duration::from_millis(1500)).await, "nobody else entered");
}

#[actix_web::test]
async fn bad_frames_get_errors_and_the_socket_stays_open() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    for bad in ["not json", "{}", r#"{"type": "dance"}"#, r#"{"type": 5}"#, r#"[1,2]"#] {
        a.inner.send(Message::Text(bad.into())).await.unwrap();
        let e = a.expect("error").await;
        assert_eq!(e["data"]["code"], "invalid_frame", "{bad}");
    }
    a.inner.send(Message::Binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(a.expect("error").await["data"]["code"], "invalid_frame");
    for text in ["", "   ", &"x".repeat(201)] {
        a.chat(text).await;
        assert_eq!(a.expect("error").await["data"]["code"], "invalid_input");
    }
    a.send(json!({"type": "ping"})).await;
    a.expect("pong").await;
    a.chat("still here").await;
    assert_eq!(a.expect("chat").await["data"]["text"], "still here");
}

#[actix_web::test]
async fn a_frame_over_4_kib_closes_with_1009() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    a.chat(&"x".repeat(5000)).await;
    assert_eq!(a.expect_close().await, 1009);
}

#[actix_web::test]
async fn chat_is_rate_limited_filtered_and_slow_moded() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (viewer, _) = app.new_user().await;
    let (mut v, _) = app.join(room, &viewer).await;
    for i in 0..6 {
        v.chat(&format!("m{i}")).await;
    }
    let mut chats = 0;
    let mut limited = 0;
    while chats + limited < 6 {
        match v.next(Duration::from_secs(5)).await {
            Got::Frame(f) if f["type"] == "chat" => chats += 1,
            Got::Frame(f) if f["type"] == "error" => {
                assert_eq!(f["data"]["code"], "rate_limited");
                limited += 1;
            }
            Got::Frame(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((chats, limited), (5, 1));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.chat("what the FUCK").await;
    assert_eq!(v.expect("chat").await["data"]["text"], "what the ****");

    let (s, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/rooms/{room}/slow-mode"),
            Some(&anchor),
            Some(json!({"seconds": 30})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v.expect("slow_mode").await["data"]["seconds"], 30);
    v.chat("one").await;
    let e = v.expect("error").await;
    assert_eq!(e["data"]["code"], "slow_mode");
    assert!(e["data"]["retry_after"].as_u64().unwrap() > 0);
    // The anchor is exempt.
    let (mut a, w) = app.join(room, &anchor).await;
    assert_eq!(w["data"]["slow_mode"], 30);
    a.chat("a1").await;
    a.chat("a2").await;
    assert_eq!(a.expect("chat").await["data"]["text"], "a1");
    assert_eq!(a.expect("chat").await["data"]["text"], "a2");
}

#[actix_web::test]
async fn mute_kick_and_delete_work_in_the_room() {
    for set in backend_sets() {
        // A kick holds for a second here (10 minutes by default).
        let app = spawn_app_with(set, |s| s.room.kick_s = 1).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, vid) = app.new_user().await;
        let (mut a, _) = app.join(room, &anchor).await;
        let (mut v, _) = app.join(room, &viewer).await;

        v.chat("rude words").await;
        let seq = a.expect("chat").await["seq"].as_u64().unwrap();
        let (s, _) = app.delete(&format!("/api/rooms/{room}/messages/{seq}"), &anchor).await;
        assert_eq!(s, 204);
        assert_eq!(v.expect("chat_deleted").await["data"]["seq"], seq);
        let (late, _) = app.new_user().await;
        let (_l, w) = app.join(room, &late).await;
        assert_eq!(w["data"]["recent"], json!([]), "the message left the history");

        let (s, _) =
            app.post(&format!("/api/rooms/{room}/mutes"), &anchor, json!({"user_id": vid, "seconds": 60})).await;
        assert_eq!(s, 200);
        let m = a.expect("muted").await;
        assert_eq!(m["data"]["user_id"], vid);
        assert!(m["seq"].as_u64().is_some());
        v.chat("hello?").await;
        assert_eq!(v.expect("error").await["data"]["code"], "muted");
        let (s, _) = app.delete(&format!("/api/rooms/{room}/mutes/{vid}"), &anchor).await;
        assert_eq!(s, 204);
        v.chat("back").await;
        assert_eq!(v.expect("chat").await["data"]["text"], "back");

        let (s, _) = app.post(&format!("/api/rooms/{room}/kicks"), &anchor, json!({"user_id": vid})).await;
        assert_eq!(s, 200);
        assert_eq!(v.expect_close().await, 4003);
        // Kicked, not banned: kept out for a while, told when they may come back...
        let (s, b) = app.get(&format!("/api/rooms/{room}/im"), &viewer).await;
        assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (403, Some("kicked")), "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains("come back"), "{b}");
        // ... then back in.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (_v2, _) = app.join(room, &viewer).await;
    }
}

#[actix_web::test]
async fn the_anchor_lists_who_is_banned_and_lifts_a_ban_from_the_list() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, vid) = app.new_user().await;
        let (s, _) =
            app.call(reqwest::Method::PATCH, "/api/me", Some(&viewer), Some(json!({"nickname": "Loud Viewer"}))).await;
        assert_eq!(s, 200);
        let (mut v, _) = app.join(room, &viewer).await;
        let bans = format!("/api/rooms/{room}/bans");
        let (_, page) = app.get(&bans, &anchor).await;
        assert_eq!(page["total"], 0);
        let (s, _) = app.post(&format!("/api/rooms/{room}/kicks"), &anchor, json!({"user_id": vid, "ban": true})).await;
        assert_eq!(s, 200);
        assert_eq!(v.expect_close().await, 4003);
        let (s, page) = app.get(&bans, &anchor).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["items"][0]["user"], json!({"id": vid, "nickname": "Loud Viewer"}));
        assert!(page["items"][0]["at"].as_str().is_some());
        let (s, b) = app.get(&bans, &viewer).await;
        assert_eq!((s.as_u16(), code(&b)), (403, "forbidden"), "only the anchor or an admin");
        let (s, _) = app.delete(&format!("{bans}/{vid}"), &anchor).await;
        assert_eq!(s, 204);
        let (_, page) = app.get(&bans, &anchor).await;
        assert_eq!(page["total"], 0);
        let (_v2, _) = app.join(room, &viewer).await;
        let (s, _) = app.get("/api/rooms/999999/bans", &anchor).await;
        assert_eq!(s, 404);
    }
}

#[actix_web::test]
async fn closing_the_room_sends_room_closed_then_4004() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, _) = app.new_user().await;
        let (mut v, _) = app.join(room, &viewer).await;
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204);
        let f = v.expect("room_closed").await;
        assert!(f["seq"].as_u64().is_some());
        assert_eq!(v.expect_close().await, 4004);
    }
}

#[actix_web::test]
async fn shutdown_closes_every_socket_with_1001() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, _) = app.new_user().await;
        let (mut a, _) = app.join(room, &anchor).await;
        let (mut v, _) = app.join(room, &viewer).await;
        // As SIGTERM does; the sockets are told before the server stops.
        let stopping = app.shutdown();
        for (who, ws) in [("anchor", &mut a), ("viewer", &mut v)] {
            let (code, reason) = close_frame(&mut ws.inner).await;
            assert_eq!(code, 1001, "{set:?}: {who} gets Going Away, not a cut connection");
            assert_eq!(reason, "server shutting down", "{set:?}: {who}");
            // The client's reading answers the close; then the server ends the connection.
            let ended = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(_)) = ws.inner.next().await {}
            })
            .await;
            assert!(ended.is_ok(), "{set:?}: {who}: the connection ends after the closing handshake");
        }
        tokio::time::timeout(Duration::from_secs(10), stopping).await.expect("the server stops");
    }
}

/// The server's close frame: (code, reason); frames before it are skipped, and a connection
/// that ends without one fails the test.
async fn close_frame(ws: &mut crate::ws_client::Stream) -> (u16, String) {
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("a close frame within 10 s") {
            Some(Ok(Message::Close(Some(c)))) => return (u16::from(c.code), c.reason.to_string()),
            Some(Ok(Message::Close(None))) => panic!("a close frame without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the connection failed before a close frame: {e}"),
            None => panic!("the connection ended without a close frame"),
        }
    }
}

#[actix_web::test]
async fn a_silent_socket_is_closed_with_4000() {
    let app = spawn_app_with(BackendSet::Embedded, |s| s.room.heartbeat_timeout_s = 1).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    assert_eq!(a.expect_close().await, 4000);
    // The room forgot the socket.
    let (_, r) = app.get(&format!("/api/rooms/{room}"), &anchor).await;
    assert_eq!(r["online"], 0);
}

#[actix_web::test]
async fn pings_keep_a_socket_alive() {
    let app = spawn_app_with(BackendSet::Embedded, |s| s.room.heartbeat_timeout_s = 2).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        a.send(json!({"type": "ping"})).await;
        a.expect("pong").await;
    }
}

#[actix_web::test]
async fn a_viewer_that_never_reads_is_closed_with_4001_and_the_room_goes_on() {
    let app = spawn_app_with(BackendSet::Embedded, |s| {
        s.room.queue_size = 8;
        s.limits.enabled = false;
    })
    .await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    // The slow viewer: a tiny receive buffer, and it never reads.
    let (viewer, _) = app.new_user().await;
    let (_, b) = app.ticket(room, &viewer).await;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", app.port).parse().unwrap();
    sock.connect(&addr.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(std::net::TcpStream::from(sock)).unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(b["url"].as_str().unwrap(), tcp).await.unwrap();
    let (mut a, _) = app.join(room, &anchor).await;
    // ~700-byte frames, ~4 MiB in all: more than any socket buffer on the way can hold.
    let text = "好".repeat(190);
    let n = 6000;
    // The anchor reads as it goes (a few chats, then their echoes: fewer than its queue holds),
    // and gets every chat in order.
    let batch = 4;
    for start in (0..n).step_by(batch) {
        for i in start..start + batch {
            a.chat(&format!("{i} {text}")).await;
        }
        for i in start..start + batch {
            let c = a.expect("chat").await;
            assert_eq!(c["seq"], i + 1);
        }
    }
    // The slow viewer was dropped with 4001 (after whatever its buffers held).
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await.expect("slow socket closes") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(c))) => {
                break c.map(|c| u16::from(c.code)).unwrap_or(0)
            }
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 4001);
    let body = app.http.get(format!("{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(body.lines().any(|l| l.starts_with("liveroom_ws_slow_closes_total") && !l.ends_with(" 0")));
}

#[actix_web::test]
async fn resume_replays_exactly_the_missed_events() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.limits.enabled = false).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, _) = app.new_user().await;
        let (mut a, _) = app.join(room, &anchor).await;
        let (mut v, _) = app.join(room, &viewer).await;
        for i in 1..=3 {
            a.chat(&format!("m{i}")).await;
            assert_eq!(v.expect("chat").await["seq"], i);
        }
        v.close().await;
        for i in 4..=6 {
            a.chat(&format!("m{i}")).await;
            a.expect("chat").await;
        }
        let (mut v, w) = app.join(room, &viewer).await;
        assert_eq!(w["data"]["last_seq"], 6);
        v.send(json!({"type": "resume", "data": {"last_seq": 3}})).await;
        for i in 4..=6 {
            let c = v.expect("chat").await;
            assert_eq!((c["seq"].as_i64(), c["data"]["text"].as_str()), (Some(i), Some(format!("m{i}").as_str())));
        }
        assert!(v.quiet_of("chat", Duration::from_millis(300)).await, "nothing more");
        // Asking for events the room never had: resync.
        v.send(json!({"type": "resume", "data": {"last_seq": 99}})).await;
        v.expect("resync").await;
    }
}

#[actix_web::test]
async fn resume_past_the_history_gets_resync() {
    let app = spawn_app_with(BackendSet::Embedded, |s| s.limits.enabled = false).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    for i in 0..300 {
        a.chat(&format!("m{i}")).await;
    }
    for _ in 0..300 {
        a.expect("chat").await;
    }
    a.send(json!({"type": "resume", "data": {"last_seq": 10}})).await;
    a.expect("resync").await;
    a.send(json!({"type": "resume", "data": {"last_seq": 100}})).await;
    assert_eq!(a.expect("chat").await["seq"], 101, "the last 200 are kept");
}

#[actix_web::test]
async fn notices_are_resent_once_without_an_ack_and_replayed_on_welcome() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.notice.retry_after_ms = 300).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, vid) = app.new_user().await;
        let (mut v, _) = app.join(room, &viewer).await;
        let id = app.state.notices.send(vid, "gift_failed", json!({"reason": "test"})).await.unwrap();
        let n = v.expect("notice").await;
        assert_eq!(n["data"]["id"], id.as_str());
        assert_eq!(n["data"]["kind"], "gift_failed");
        assert_eq!(n["data"]["reason"], "test");
        // No ack: sent once more.
        let again = v.expect("notice").await;
        assert_eq!(again["data"]["id"], id.as_str());
        assert!(v.quiet_of("notice", Duration::from_millis(1200)).await, "only once more");
        // Acked notices are not resent.
        let id2 = app.state.notices.send(vid, "order_paid", json!({})).await.unwrap();
        let n = v.expect("notice").await;
        assert_eq!(n["data"]["id"], id2.as_str());
        v.send(json!({"type": "ack", "data": {"id": id2}})).await;
        assert!(v.quiet_of("notice", Duration::from_millis(1200)).await);
        v.close().await;
        // Offline: the unacked one arrives with the next welcome.
        let (mut v, _) = app.join(room, &viewer).await;
        let n = v.expect("notice").await;
        assert_eq!(n["data"]["id"], id.as_str());
    }
}

#[actix_web::test]
async fn a_failed_room_actor_restarts_and_its_viewers_resync_and_stay() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (anchor2, _) = app.new_user().await;
    let other = app.open_room(&anchor2, "normal").await;
    let (mut a, _) = app.join(room, &anchor).await;
    let (mut o, _) = app.join(other, &anchor2).await;
    a.chat("before").await;
    a.expect("chat").await;
    let addr = app.state.rooms.get(room).unwrap();
    addr.send(liveroom::actors::room::Crash).await.unwrap();
    a.expect("resync").await;
    a.chat("after").await;
    let c = a.expect("chat").await;
    assert_eq!(c["data"]["text"], "after");
    assert_eq!(c["seq"], 2, "seq keeps going");
    // The other room did not notice.
    o.chat("unaffected").await;
    assert_eq!(o.expect("chat").await["data"]["text"], "unaffected");
    assert!(o.quiet_of("resync", Duration::from_millis(300)).await);
}

#[actix_web::test]
async fn a_thousand_viewers_each_get_every_chat_in_order() {
    // Joining a thousand sockets one by one takes long on a loaded machine, and the viewers are
    // not read (so they answer no ping) until the chats are sent: heartbeats are not under test.
    let app = spawn_app_with(BackendSet::Embedded, |s| {
        s.limits.enabled = false;
        s.room.heartbeat_timeout_s = 300;
    })
    .await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let mut tokens = vec![];
    for _ in 0..100 {
        tokens.push(app.new_user().await.0);
    }
    let mut viewers = vec![];
    for i in 0..1000 {
        viewers.push(app.join(room, &tokens[i % 100]).await.0);
    }
    let (mut a, _) = app.join(room, &anchor).await;
    let n = 20u64;
    for i in 0..n {
        a.chat(&format!("c{i}")).await;
    }
    let results = futures_util::future::join_all(viewers.iter_mut().map(|v| async move {
        let mut seqs = vec![];
        while seqs.len() < n as usize {
            let c = v.expect("chat").await;
            seqs.push(c["seq"].as_u64().unwrap());
        }
        seqs
    }))
    .await;
    let want: Vec<u64> = (1..=n).collect();
    for (i, s) in results.iter().enumerate() {
        assert_eq!(s, &want, "viewer {i}");
    }
}

#[actix_web::test]
async fn presence_records_which_node_holds_each_socket() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, aid) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (a, _) = app.join(room, &anchor).await;
        let node = app.state.presence.node.clone();
        let mut seen = 0;
        for _ in 0..50 {
            seen = app.state.presence.room(room).await.unwrap().get(&node).copied().unwrap_or(0);
            if seen == 1 && !app.state.presence.user_nodes(aid).await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, 1);
        assert_eq!(app.state.presence.user_nodes(aid).await.unwrap(), vec![node.clone()]);
        a.close().await;
        for _ in 0..50 {
            if app.state.presence.room(room).await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(app.state.presence.room(room).await.unwrap().is_empty());
    }
}

/// Polls `f` until it holds, for up to `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn hole14_a_client_that_stops_reading_is_dropped_and_its_connection_closed() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.room.write_timeout_s = 1;
            // Neither the heartbeat nor the room's too-slow drop can end it: only the write timeout.
            s.room.heartbeat_timeout_s = 600;
            s.room.queue_size = 100_000;
            s.limits.enabled = false;
        })
        .await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, _) = app.new_user().await;
        let (slow, client_port) = app.never_reading(room, &viewer).await;
        eventually(30, "the socket joins", || async { app.snapshot(room).await.sockets == 1 }).await;
        // ~700-byte events, ~7 MiB in all: more than every buffer on the way holds.
        let addr = app.state.rooms.get(room).unwrap();
        let text = "好".repeat(230);
        for i in 0..10_000 {
            let line = liveroom::domain::events::ChatLine {
                at: liveroom::clock::rfc3339(0),
                from: liveroom::domain::user::UserRef { id: 0, nickname: "flood".into() },
                text: format!("{i} {text}"),
            };
            addr.send(liveroom::actors::room::Publish(line.into())).await.unwrap();
        }
        eventually(60, "the stalled socket is still held by its task and room", || async {
            app.snapshot(room).await.sockets == 0 && app.state.notices.hub.sockets() == 0
        })
        .await;
        let (_, r) = app.get(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(r["online"], 0);
        #[cfg(target_os = "linux")]
        eventually(60, "the server still holds the TCP connection", || async {
            !server_holds_connection(app.port, client_port)
        })
        .await;
        let _ = client_port;
        drop(slow);
    }
}

#[actix_web::test]
async fn hole15_ten_thousand_likes_from_one_socket_add_a_bounded_amount_and_chat_goes_on() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (mut a, _) = app.join(room, &anchor).await;
        let (flooder, _) = app.new_user().await;
        let (mut f, _) = app.join(room, &flooder).await;
        let (viewer, _) = app.new_user().await;
        let (mut v, _) = app.join(room, &viewer).await;
        let like = Message::Text(json!({"type": "like", "data": {"count": 50}}).to_string());
        for _ in 0..10_000 {
            if f.inner.feed(like.clone()).await.is_err() {
                break;
            }
        }
        let _ = f.inner.flush().await;
        // Told first, then closed as a policy violation.
        let mut told = false;
        let code = loop {
            match f.next(Duration::from_secs(10)).await {
                Got::Frame(x) if x["type"] == "error" => {
                    assert_eq!(x["data"]["code"], "rate_limited");
                    told = true;
                }
                Got::Frame(_) => {}
                Got::Closed(c) => break c,
                Got::Timeout => panic!("the flooding socket is not closed"),
            }
        };
        assert!(told, "the flooder was told it is rate limited");
        assert_eq!(code, 1008);
        v.chat("still serving").await;
        let c = a.expect("chat").await;
        assert_eq!(c["data"]["text"], "still serving");
        // Its likes settle at a bounded total (all 10,000 would be 500,000).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut likes = app.snapshot(room).await.likes;
        loop {
            tokio::time::sleep(Duration::from_millis(600)).await;
            let now = app.snapshot(room).await.likes;
            if now == likes {
                break;
            }
            likes = now;
            assert!(tokio::time::Instant::now() < deadline, "likes do not settle");
        }
        assert!(likes > 0 && likes <= 50_000, "likes from one flooding socket: {likes}");
    }
}

#[actix_web::test]
async fn hole16_a_user_is_capped_at_sockets_per_room_and_per_node() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.room.max_sockets_per_user_per_room = 2;
            s.room.max_sockets_per_user = 3;
        })
        .await;
        let mut rooms = vec![];
        for _ in 0..3 {
            let (anchor, _) = app.new_user().await;
            rooms.push(app.open_room(&anchor, "normal").await);
        }
        let (viewer, _) = app.new_user().await;
        let (_w1, _) = app.join(rooms[0], &viewer).await;
        // Two tickets while one socket is open: both are issued, the second handshake is refused.
        let (_, t1) = app.ticket(rooms[0], &viewer).await;
        let (_, t2) = app.ticket(rooms[0], &viewer).await;
        let (_w2, _) = tokio_tungstenite::connect_async(t1["url"].as_str().unwrap()).await.expect("second socket");
        match tokio_tungstenite::connect_async(t2["url"].as_str().unwrap()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
            other => panic!("third socket in one room: {:?}", other.map(|_| ())),
        }
        // At the cap, `/im` says so before a ticket is spent.
        let (s, b) = app.ticket(rooms[0], &viewer).await;
        assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"), "{b}");
        // Another room takes the user's third and last socket on this node.
        let (w3, _) = app.join(rooms[1], &viewer).await;
        let (s, b) = app.ticket(rooms[2], &viewer).await;
        assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"), "{b}");
        // Other users are not affected.
        let (someone, _) = app.new_user().await;
        let (_o, _) = app.join(rooms[0], &someone).await;
        // Closing a socket frees its place.
        w3.close().await;
        eventually(30, "the closed socket is forgotten", || async { app.state.notices.hub.sockets() == 3 }).await;
        let (_w4, _) = app.join(rooms[2], &viewer).await;
    }
}

#[actix_web::test]
async fn hole16_im_is_rate_limited_per_user() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.room.im_per_minute = 5).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, _) = app.new_user().await;
        for _ in 0..5 {
            assert_eq!(app.ticket(room, &viewer).await.0, 200);
        }
        let res = app.http.get(format!("{}/api/rooms/{room}/im", app.addr)).bearer_auth(&viewer).send().await.unwrap();
        assert_eq!(res.status(), 429);
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let b: serde_json::Value = res.json().await.unwrap();
        assert_eq!(code(&b), "rate_limited");
        // Per user: the anchor still gets tickets.
        assert_eq!(app.ticket(room, &anchor).await.0, 200);
    }
}

#[actix_web::test]
async fn hole17_a_chatter_in_a_busy_room_keeps_its_socket_while_awaiting_the_reply() {
    use liveroom::actors::room::{Publish, Stall};
    use liveroom::domain::events::{GiftItem, GiftSent};
    use liveroom::domain::user::UserRef;
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.room.queue_size = 4;
            s.limits.enabled = false;
        })
        .await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (mut a, _) = app.join(room, &anchor).await;
        // A busy room: 20 events, each followed by 50 ms of work, are queued before the chat, so
        // far more than the socket's queue holds reaches it while it awaits the chat's answer.
        let addr = app.state.rooms.get(room).unwrap();
        for i in 0..20 {
            let gift = GiftSent {
                at: String::new(),
                count: i,
                first_at: None,
                from: UserRef { id: 0, nickname: "flood".into() },
                gift: GiftItem { effect: String::new(), id: 0, name: String::new(), price: 0 },
                sends: 1,
                to: 0,
            };
            addr.do_send(Publish(gift.into()));
            addr.do_send(Stall { ms: 50 });
        }
        a.chat("hello while busy").await;
        let mut gifts = 0;
        loop {
            match a.next(Duration::from_secs(15)).await {
                Got::Frame(f) if f["type"] == "gift" => gifts += 1,
                Got::Frame(f) if f["type"] == "chat" => {
                    assert_eq!(f["data"]["text"], "hello while busy");
                    break;
                }
                Got::Frame(_) => {}
                Got::Closed(c) => panic!("the chatter was dropped with {c}"),
                Got::Timeout => panic!("no chat"),
            }
        }
        assert_eq!(gifts, 20);
        a.send(json!({"type": "ping"})).await;
        a.expect("pong").await;
    }
}

#[actix_web::test]
async fn issue15_welcome_carries_the_rooms_like_total() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        let (mut a, w) = app.join(room, &fan).await;
        assert_eq!(w["data"]["likes"], 0, "{w}");
        a.send(json!({"type": "like", "data": {"count": 7}})).await;
        // The room has counted them once a snapshot says so.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match a.next(Duration::from_millis(500)).await {
                crate::ws_client::Got::Frame(f) if f["type"] == "likes" && f["data"]["total"] == 7 => break,
                _ => assert!(std::time::Instant::now() < deadline, "no likes snapshot of 7"),
            }
        }
        let (viewer, _) = app.new_user().await;
        let (b, w) = app.join(room, &viewer).await;
        assert_eq!(w["data"]["likes"], 7, "a newcomer sees the room's total at once: {w}");
        a.close().await;
        b.close().await;
    }
}
