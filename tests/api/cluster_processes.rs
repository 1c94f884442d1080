//! Three `liveroom` processes on loopback as one cluster, and the home of a room killed with
//! SIGKILL in the middle of a chat (real backends only). Nothing here reaches into a process:
//! everything goes through HTTP, the socket, and Redis, as a load balancer and clients would.

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Node {
    id: String,
    addr: String,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(storage: &Storage, id: &str) -> Node {
    let port = unused_port();
    let child = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("LIVEROOM__SERVER__PORT", port.to_string())
        .env("LIVEROOM__SERVER__WORKERS", "1")
        .env("LIVEROOM__DATABASE__URL", &storage.database_url)
        .env("LIVEROOM__REDIS__URL", &storage.redis_url)
        .env("LIVEROOM__REDIS__PREFIX", &storage.redis_prefix)
        .env("LIVEROOM__AMQP__URL", &storage.amqp_url)
        .env("LIVEROOM__AMQP__PREFIX", &storage.amqp_prefix)
        .env("LIVEROOM__CLUSTER__ENABLED", "true")
        .env("LIVEROOM__CLUSTER__NODE_ID", id)
        .env("LIVEROOM__CLUSTER__RENEW_MS", "200")
        .env("LIVEROOM__CLUSTER__EXPIRE_MS", "800")
        .env("LIVEROOM__AUTH__SMS_PER_IP_PER_HOUR", "0")
        .env("LIVEROOM__AUTH__LOGIN_PER_IP_PER_MINUTE", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the liveroom binary starts");
    Node { id: id.to_owned(), addr: format!("127.0.0.1:{port}"), child }
}

async fn health_lists(http: &reqwest::Client, node: &Node, want: usize) -> bool {
    let Ok(res) = http.get(format!("http://{}/api/health", node.addr)).send().await else { return false };
    let body: Value = res.json().await.unwrap_or_default();
    body["cluster"]["nodes"].as_array().is_some_and(|n| n.len() == want)
}

async fn post(http: &reqwest::Client, node: &Node, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut r = http.post(format!("http://{}{path}", node.addr)).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().json().await.unwrap()
}

async fn login(http: &reqwest::Client, node: &Node, phone: &str) -> String {
    post(http, node, "/api/auth/sms", None, json!({"phone": phone})).await;
    let b = post(http, node, "/api/auth/login", None, json!({"phone": phone, "code": "1000"})).await;
    b["token"].as_str().unwrap().to_owned()
}

async fn join(http: &reqwest::Client, node: &Node, room: i64, token: &str) -> Socket {
    let t: Value = http
        .get(format!("http://{}/api/rooms/{room}/im", node.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("ws://{}/ws?ticket={}", node.addr, t["ticket"].as_str().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_of(&mut ws, "welcome").await["type"], "welcome");
    ws
}

/// The next frame of `kind`; panics after 10 s.
async fn next_of(ws: &mut Socket, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["type"] == kind {
                    return f;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("waiting for {kind}: {other:?}"),
        }
    }
}

async fn chat(ws: &mut Socket, text: &str) {
    ws.send(Message::Text(json!({"type": "chat", "data": {"text": text}}).to_string())).await.unwrap();
}

#[actix_web::test]
async fn killing_the_home_process_mid_chat_moves_the_room_and_its_viewers_chat_on() {
    for set in backend_sets().into_iter().filter(|s| *s != BackendSet::Embedded) {
        let storage = Storage::fresh(set).await;
        let mut nodes: Vec<Node> = ["p-a", "p-b", "p-c"].iter().map(|id| start(&storage, id)).collect();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for n in &nodes {
            while !health_lists(&http, n, 3).await {
                assert!(tokio::time::Instant::now() < deadline, "{set:?}: {} never saw three nodes", n.id);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let anchor = login(&http, &nodes[0], "13900000001").await;
        let room =
            post(&http, &nodes[0], "/api/rooms", Some(&anchor), json!({"title": "kill -9", "kind": "normal"})).await;
        let room = room["id"].as_i64().unwrap();
        let mut sockets = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let t = login(&http, n, &format!("1390000001{i}")).await;
            sockets.push(join(&http, n, room, &t).await);
        }
        // The home, as Redis holds it.
        let mut conn =
            liveroom::storage::redis_conn::RedisConn::connect(&storage.redis_url, Duration::from_secs(3), None)
                .await
                .unwrap();
        let homes = format!("{}{{lrc}}:homes", storage.redis_prefix);
        let home: String = redis::cmd("HGET").arg(&homes).arg(room).query_async(&mut conn).await.unwrap();

        for (i, ws) in sockets.iter_mut().enumerate() {
            chat(ws, &format!("before {i}")).await;
        }
        for ws in sockets.iter_mut() {
            for _ in 0..3 {
                next_of(ws, "chat").await;
            }
        }
        // SIGKILL: no leave, no goodbye; the others must notice it lapse.
        let dead = nodes.iter().position(|n| n.id == home).unwrap();
        nodes[dead].child.kill().unwrap();
        nodes[dead].child.wait().unwrap();
        let killed = tokio::time::Instant::now();
        let survivors: Vec<usize> = (0..3).filter(|i| *i != dead).collect();
        for &i in &survivors {
            next_of(&mut sockets[i], "resync").await;
        }
        assert!(killed.elapsed() < Duration::from_secs(5), "{set:?}: a new home in {:?}", killed.elapsed());
        let new_home: String = redis::cmd("HGET").arg(&homes).arg(room).query_async(&mut conn).await.unwrap();
        assert_ne!(new_home, home, "{set:?}");

        for &i in &survivors {
            chat(&mut sockets[i], &format!("after {i}")).await;
        }
        let mut seen = Vec::new();
        for &i in &survivors {
            let a = next_of(&mut sockets[i], "chat").await;
            let b = next_of(&mut sockets[i], "chat").await;
            assert!(a["seq"].as_u64().unwrap() > 3, "{set:?}: numbered on: {a}");
            assert_eq!(b["seq"].as_u64(), a["seq"].as_u64().map(|s| s + 1), "{set:?}");
            seen.push((a, b));
        }
        assert_eq!(seen[0], seen[1], "{set:?}: one order on both survivors");
        drop(nodes);
        storage.cleanup().await;
    }
}
