//! Three `liveroom` processes on loopback as one cluster, and the home of a room killed with
//! SIGKILL in the middle of a chat, and of a PK and a rain (real backends only). Nothing here
//! reaches into a process: everything goes through HTTP, the socket, and Redis, as a load
//! balancer and clients would; the database is read only to check the money afterwards.

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

/// Any request; the status and the JSON body (null when there is none).
async fn call(
    http: &reqwest::Client,
    addr: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http.request(method, format!("http://{addr}{path}")).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    match r.send().await {
        Ok(res) => (res.status().as_u16(), res.json().await.unwrap_or(Value::Null)),
        // The node was killed under the request.
        Err(_) => (0, Value::Null),
    }
}

/// A count from the database.
async fn number(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = db.query_one(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The sum of the first column of every row (summed here: SUM's type differs by engine).
async fn total(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db.query_all(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).sum()
}

/// A PK runs and a rain pours in one room while gifts and grabs go through all three nodes; the
/// room's home is killed with SIGKILL in the middle. The survivors' viewers resync; the new home
/// goes on with the PK from its row (gifts still move the bar) and hands out the rain's
/// remaining packets; and once the room closes, nothing of the money is lost: every balance is
/// the sum of its trades, each packet went once (to a grabber or back to the anchor), and the
/// PK's stored tally is the rule applied to its counted gifts in their commit order.
#[actix_web::test]
async fn killing_the_home_process_mid_pk_and_rain_loses_no_coin_and_both_go_on() {
    use reqwest::Method;
    for set in backend_sets().into_iter().filter(|s| *s != BackendSet::Embedded) {
        let storage = Storage::fresh(set).await;
        let mut nodes: Vec<Node> = ["q-a", "q-b", "q-c"].iter().map(|id| start(&storage, id)).collect();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for n in &nodes {
            while !health_lists(&http, n, 3).await {
                assert!(tokio::time::Instant::now() < deadline, "{set:?}: {} never saw three nodes", n.id);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let host = login(&http, &nodes[0], "13900000101").await;
        let ch = login(&http, &nodes[0], "13900000102").await;
        let admin = login(&http, &nodes[0], "13141150122").await;
        let room = post(&http, &nodes[0], "/api/rooms", Some(&host), json!({"title": "pk", "kind": "pk"})).await;
        let room = room["id"].as_i64().unwrap();
        post(&http, &nodes[0], "/api/rooms", Some(&ch), json!({"title": "ch", "kind": "normal"})).await;
        // The rain: applied for, approved, paid and started.
        let app = post(
            &http,
            &nodes[0],
            "/api/red-packet/applications",
            Some(&host),
            json!({"total_coins": 1000, "packets": 200}),
        )
        .await;
        let app_id = app["id"].as_i64().unwrap();
        post(
            &http,
            &nodes[0],
            &format!("/api/admin/red-packet/applications/{app_id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
        post(&http, &nodes[0], "/api/wallet/recharges", Some(&host), json!({"product_id": 4})).await;
        let (s, b) = call(
            &http,
            &nodes[1].addr,
            Method::POST,
            &format!("/api/rooms/{room}/rain/prepare"),
            &host,
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 200, "{set:?}: {b}");
        let (s, b) =
            call(&http, &nodes[1].addr, Method::POST, &format!("/api/rooms/{room}/rain/start"), &host, Some(json!({})))
                .await;
        assert_eq!(s, 200, "{set:?}: {b}");
        let (s, pk) =
            call(&http, &nodes[2].addr, Method::POST, &format!("/api/rooms/{room}/pk/join"), &ch, Some(json!({})))
                .await;
        assert_eq!(s, 200, "{set:?}: {pk}");
        let pk_id = pk["id"].as_i64().unwrap();
        let host_id = pk["host"]["id"].as_i64().unwrap();
        let ch_id = pk["challenger"]["id"].as_i64().unwrap();

        let mut sockets = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let t = login(&http, n, &format!("1390000020{i}")).await;
            sockets.push(join(&http, n, room, &t).await);
        }
        let mut fans = Vec::new();
        for i in 0..9 {
            let t = login(&http, &nodes[i % 3], &format!("139000003{i:02}")).await;
            post(&http, &nodes[i % 3], "/api/wallet/recharges", Some(&t), json!({"product_id": 2})).await;
            fans.push(t);
        }
        let redis = liveroom::storage::redis_conn::RedisConn::connect(&storage.redis_url, Duration::from_secs(3), None);
        let mut conn = redis.await.unwrap();
        let homes = format!("{}{{lrc}}:homes", storage.redis_prefix);
        let home: String = redis::cmd("HGET").arg(&homes).arg(room).query_async(&mut conn).await.unwrap();
        let dead = nodes.iter().position(|n| n.id == home).unwrap();
        let survivors: Vec<usize> = (0..3).filter(|i| *i != dead).collect();

        // Gifts (hearts, a point each, to the host from even fans and to the challenger from odd
        // ones: far from a knockout) and grabs from every fan through every node, while the home
        // is killed.
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = fans.iter().enumerate().map(|(i, t)| {
            let (http, addrs, stop) = (&http, &addrs, stop.clone());
            async move {
                let mut k = i;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let n = &addrs[k % 3];
                    k += 1;
                    let to = if i % 2 == 0 { host_id } else { ch_id };
                    let (s, b) = call(
                        http,
                        n,
                        Method::POST,
                        &format!("/api/rooms/{room}/gifts"),
                        t,
                        Some(json!({"gift_id": 2, "to": to})),
                    )
                    .await;
                    assert!(matches!(s, 0 | 200 | 402 | 503), "gift through {n}: {s} {b}");
                    let (s, b) =
                        call(http, n, Method::POST, &format!("/api/rooms/{room}/rain/grab"), t, Some(json!({}))).await;
                    assert!(matches!(s, 0 | 200 | 409 | 429 | 503), "grab through {n}: {s} {b}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        let killer = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            nodes[dead].child.kill().unwrap();
            nodes[dead].child.wait().unwrap();
            let killed = tokio::time::Instant::now();
            for &i in &survivors {
                next_of(&mut sockets[i], "resync").await;
            }
            assert!(killed.elapsed() < Duration::from_secs(5), "{set:?}: a new home in {:?}", killed.elapsed());
            tokio::time::sleep(Duration::from_millis(700)).await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        let (_, ()) = tokio::join!(futures_util::future::join_all(load), killer);

        // The new home shows the PK going on: a heart through a survivor moves the bar.
        let db = sea_orm::Database::connect(&storage.database_url).await.unwrap();
        let before = liveroom::storage::pks::find(&db, pk_id).await.unwrap().unwrap();
        assert_eq!(before.status, "running", "{set:?}");
        let s0 = survivors[0];
        let (s, b) = call(
            &http,
            &nodes[s0].addr,
            Method::POST,
            &format!("/api/rooms/{room}/gifts"),
            &fans[0],
            Some(json!({"gift_id": 2, "to": host_id})),
        )
        .await;
        assert_eq!(s, 200, "{set:?}: {b}");
        for &i in &survivors {
            loop {
                let f = next_of(&mut sockets[i], "pk_progress").await;
                if f["data"]["pk"]["host_coins"].as_i64() == Some(before.host_coins + 10) {
                    break;
                }
            }
        }
        // ... and hands out the rain's remaining packets.
        let (s, b) = call(
            &http,
            &nodes[s0].addr,
            Method::POST,
            &format!("/api/rooms/{room}/rain/grab"),
            &fans[1],
            Some(json!({})),
        )
        .await;
        assert!(s == 200 || b["error"]["code"] == "rain_empty", "{set:?}: {s} {b}");

        // The room closes: the PK ends, the rain's rest goes back.
        let (s, b) = call(&http, &nodes[s0].addr, Method::DELETE, &format!("/api/rooms/{room}"), &host, None).await;
        assert_eq!(s, 204, "{set:?}: {b}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let pk = liveroom::storage::pks::find(&db, pk_id).await.unwrap().unwrap();
            let open = number(&db, "SELECT COUNT(*) FROM red_packets WHERE user_id IS NULL AND refunded = false").await;
            if pk.status == "ended" && open == 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{set:?}: PK {} and {open} packets unsettled", pk.status);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Every balance is the sum of its trades.
        let off = number(
            &db,
            "SELECT COUNT(*) FROM wallets w WHERE w.balance <> (SELECT COALESCE(SUM(t.amount), 0) FROM trades t WHERE t.user_id = w.user_id)",
        )
        .await;
        assert_eq!(off, 0, "{set:?}: a balance that is not the sum of its trades");
        // Each packet went once: to its grabber, or back to the anchor.
        let grabbed = total(&db, "SELECT amount FROM red_packets WHERE user_id IS NOT NULL").await;
        let refunded = total(&db, "SELECT amount FROM red_packets WHERE refunded = true").await;
        let paid_out = total(&db, "SELECT amount FROM trades WHERE kind = 'red_packet'").await;
        let paid_back = total(&db, "SELECT amount FROM trades WHERE kind = 'rain_refund'").await;
        assert_eq!((grabbed + refunded, grabbed, refunded), (1000, paid_out, paid_back), "{set:?}");
        assert!(grabbed > 0, "{set:?}: grabs went through");
        // The PK's tally is the rule applied to its counted gifts in commit order.
        let rows = liveroom::storage::pks::counted_gifts(&db, pk_id).await.unwrap();
        let p = liveroom::storage::pks::find(&db, pk_id).await.unwrap().unwrap();
        let mut score = 50;
        for r in &rows {
            assert!(!liveroom::domain::pk::is_knockout(score), "{set:?}: a gift counted after a knockout");
            let side = if r.to_id == host_id {
                liveroom::domain::pk::Side::Host
            } else {
                liveroom::domain::pk::Side::Challenger
            };
            score = liveroom::domain::pk::apply_gift(score, side, r.coins, liveroom::domain::pk::COINS_PER_POINT);
        }
        let n = rows.len() as i64;
        let host_coins: i64 = rows.iter().filter(|r| r.to_id == host_id).map(|r| r.coins).sum();
        assert_eq!(rows.iter().map(|r| r.pk_seq).collect::<Vec<_>>(), (1..=n).map(Some).collect::<Vec<_>>(), "{set:?}");
        assert_eq!(
            (p.score, p.gifts, p.host_coins, p.challenger_coins),
            (score, n, host_coins, 10 * n - host_coins),
            "{set:?}"
        );
        if !liveroom::domain::pk::is_knockout(score) {
            let gifts = number(&db, "SELECT COUNT(*) FROM trades WHERE kind = 'gift'").await;
            assert_eq!(gifts, n, "{set:?}: every gift committed while the PK ran counted in it");
        }
        drop(nodes);
        storage.cleanup().await;
    }
}
