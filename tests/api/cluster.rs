//! Several nodes on shared backends (issue 12): settings, start-up, membership.

use crate::helpers::*;
use liveroom::settings::Settings;
use liveroom::storage::Backends;

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

#[test]
fn a_cluster_node_refuses_the_embedded_backends_by_name() {
    let on = ("cluster.enabled", "true");
    let pg = ("database.url", "postgres://postgres@127.0.0.1/test");
    let redis = ("redis.url", "redis://127.0.0.1:6379");
    let amqp = ("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let refused =
        |overrides: &[(&str, &str)]| Settings::load_with(&config_dir(), "dev", overrides).unwrap_err().to_string();

    let e = refused(&[on, redis, amqp]);
    assert!(e.contains("database.url") && e.contains("SQLite"), "the default SQLite file: {e}");
    let e = refused(&[on, pg, amqp]);
    assert!(e.contains("redis.url"), "no Redis: {e}");
    let e = refused(&[on, pg, redis]);
    assert!(e.contains("amqp.url"), "no RabbitMQ: {e}");
    let e = refused(&[on, pg, redis, amqp, ("cluster.expire_ms", "1500")]);
    assert!(e.contains("cluster.expire_ms"), "{e}");
    let e = refused(&[on, pg, redis, amqp, ("cluster.node_id", "a b")]);
    assert!(e.contains("cluster.node_id"), "{e}");

    let s = Settings::load_with(&config_dir(), "dev", &[on, pg, redis, amqp]).expect("a complete cluster node loads");
    assert!(s.cluster.enabled);
    let other = Settings::load_with(&config_dir(), "dev", &[on, pg, redis, amqp]).unwrap();
    assert_eq!(s.cluster.node_id.len(), 12, "generated: {}", s.cluster.node_id);
    assert_ne!(s.cluster.node_id, other.cluster.node_id, "each start names itself afresh");
    let named =
        Settings::load_with(&config_dir(), "dev", &[on, pg, redis, amqp, ("cluster.node_id", "node-a")]).unwrap();
    assert_eq!(named.cluster.node_id, "node-a");
    // The single-node default stays as it was.
    let single = Settings::load_with(&config_dir(), "dev", &[]).unwrap();
    assert!(!single.cluster.enabled);
}

#[actix_web::test]
async fn three_nodes_started_at_once_on_an_empty_database_all_migrate_and_start() {
    for set in backend_sets() {
        if set == BackendSet::Embedded {
            continue; // one process owns an SQLite file
        }
        let storage = Storage::fresh(set).await;
        let s = storage.settings();
        let started = futures_util::future::join_all((0..3).map(|_| Backends::connect(&s))).await;
        for (i, b) in started.into_iter().enumerate() {
            let b = b.unwrap_or_else(|e| panic!("{set:?}: node {i} did not start: {e}"));
            b.outbox.stop();
            b.queue.stop();
        }
        storage.cleanup().await;
    }
}

/// Nodes `ids` on one storage as a cluster, with membership fast enough for tests.
pub async fn spawn_cluster(storage: &Storage, ids: &[&str]) -> Vec<TestApp> {
    spawn_cluster_with(storage, ids, |_| {}).await
}

/// As `spawn_cluster`, with `tweak` applied to every node's settings.
pub async fn spawn_cluster_with(storage: &Storage, ids: &[&str], tweak: impl Fn(&mut Settings)) -> Vec<TestApp> {
    let mut nodes = Vec::new();
    for id in ids {
        let id = (*id).to_owned();
        nodes.push(
            spawn_on(storage, |s| {
                s.cluster.enabled = true;
                s.cluster.node_id = id;
                s.cluster.renew_ms = 100;
                s.cluster.expire_ms = 400;
                s.server.workers = 1;
                tweak(s);
            })
            .await,
        );
    }
    nodes
}

/// The node ids `app`'s health lists.
async fn listed(app: &TestApp) -> Vec<String> {
    let (status, body) = app.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert_eq!(status, 200, "{body}");
    body["cluster"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect()
}

/// Polls until every app in `apps` lists exactly `want`, or panics after 5 s.
/// Three nodes on fresh storage, each listing all three.
async fn three_nodes(set: BackendSet) -> (Storage, Vec<TestApp>) {
    let storage = Storage::fresh(set).await;
    let nodes = spawn_cluster(&storage, &["node-a", "node-b", "node-c"]).await;
    until_listed(&[&nodes[0], &nodes[1], &nodes[2]], &["node-a", "node-b", "node-c"]).await;
    (storage, nodes)
}

/// Stops every node, then drops the test's storage.
async fn stop_all(nodes: &[TestApp], storage: Storage) {
    for n in nodes {
        n.stop().await;
    }
    storage.cleanup().await;
}

async fn until_listed(apps: &[&TestApp], want: &[&str]) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut all = true;
        for a in apps {
            all &= listed(a).await == want;
        }
        if all {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut seen = Vec::new();
            for a in apps {
                seen.push(listed(a).await);
            }
            panic!("not every node lists {want:?}: {seen:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Real backends only: a cluster needs a shared database, Redis and RabbitMQ.
fn cluster_sets() -> Vec<BackendSet> {
    backend_sets().into_iter().filter(|s| *s != BackendSet::Embedded).collect()
}

#[actix_web::test]
async fn health_lists_every_live_node_and_forgets_a_stopped_or_dead_one() {
    for set in cluster_sets() {
        let storage = Storage::fresh(set).await;
        let nodes = spawn_cluster(&storage, &["node-a", "node-b", "node-c"]).await;
        let (_, body) = nodes[1].call(reqwest::Method::GET, "/api/health", None, None).await;
        assert_eq!(body["cluster"]["node_id"], "node-b", "{body}");
        until_listed(&[&nodes[0], &nodes[1], &nodes[2]], &["node-a", "node-b", "node-c"]).await;

        // A clean stop leaves at once.
        nodes[2].stop().await;
        until_listed(&[&nodes[0], &nodes[1]], &["node-a", "node-b"]).await;
        // A node that stops renewing (as a dead one does) lapses after the expiry.
        let cluster = nodes[1].state.svc.cluster.clone().unwrap();
        let stopped = tokio::time::Instant::now();
        cluster.halt();
        until_listed(&[&nodes[0]], &["node-a"]).await;
        assert!(stopped.elapsed() >= std::time::Duration::from_millis(300), "not before its expiry");
        for n in &nodes[..2] {
            n.stop().await;
        }
        storage.cleanup().await;
    }
    // A single node says nothing of a cluster.
    let single = spawn_app(BackendSet::Embedded).await;
    let (_, body) = single.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert!(body.get("cluster").is_none(), "{body}");
}

#[actix_web::test]
async fn a_session_ticket_and_cart_made_on_one_node_work_on_every_node() {
    use serde_json::json;
    for set in cluster_sets() {
        let storage = Storage::fresh(set).await;
        let nodes = spawn_cluster(&storage, &["node-a", "node-b", "node-c"]).await;
        let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);

        let (viewer, viewer_id) = a.new_user().await;
        for n in &nodes {
            let (s, me) = n.get("/api/me", &viewer).await;
            assert_eq!(
                (s.as_u16(), me["id"].as_i64()),
                (200, Some(viewer_id)),
                "{set:?}: a login on A holds on every node"
            );
        }
        let (anchor, _) = b.new_user().await;
        let room = b.open_room(&anchor, "normal").await;
        let product = b.approved_product(&anchor, 20, 5).await;

        let (s, _) =
            a.post(&format!("/api/rooms/{room}/cart/items"), &viewer, json!({"product_id": product, "count": 2})).await;
        assert_eq!(s, 200);
        let (s, cart) = c.get(&format!("/api/rooms/{room}/cart"), &viewer).await;
        assert_eq!(
            (s.as_u16(), cart["items"][0]["count"].as_i64()),
            (200, Some(2)),
            "{set:?}: the cart made on A, read on C: {cart}"
        );

        // A ticket asked of A opens a socket on C, once.
        let (s, t) = a.ticket(room, &viewer).await;
        assert_eq!(s, 200, "{t}");
        let on_c = format!("ws://127.0.0.1:{}/ws?ticket={}", c.port, t["ticket"].as_str().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(&on_c).await.expect("the ticket of A opens a socket on C");
        use futures_util::StreamExt;
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        assert!(first.to_text().unwrap().contains("welcome"), "{first:?}");
        let on_b = format!("ws://127.0.0.1:{}/ws?ticket={}", b.port, t["ticket"].as_str().unwrap());
        assert!(
            tokio_tungstenite::connect_async(&on_b).await.is_err(),
            "{set:?}: a ticket opens one socket, on any node"
        );

        // A logout on C ends the session on A.
        let (s, _) = c.post("/api/auth/logout", &viewer, json!({})).await;
        assert_eq!(s, 204);
        let (s, _) = a.get("/api/me", &viewer).await;
        assert_eq!(s, 401, "{set:?}: logged out everywhere");

        stop_all(&nodes, storage).await;
    }
}

#[actix_web::test]
async fn every_node_names_one_home_per_room_and_a_dead_homes_rooms_move_to_one_survivor() {
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let clusters: Vec<_> = nodes.iter().map(|n| n.state.svc.cluster.clone().unwrap()).collect();
        let homes_seen_by = |cs: Vec<liveroom::services::cluster::Cluster>| async move {
            let mut per_room = Vec::new();
            for room in 1..=60 {
                // Every node asks at once.
                let answers = futures_util::future::join_all(cs.iter().map(|c| c.home_of(room))).await;
                let answers: Vec<String> = answers.into_iter().map(|a| a.unwrap()).collect();
                assert!(answers.windows(2).all(|w| w[0] == w[1]), "room {room}: {answers:?}");
                per_room.push(answers[0].clone());
            }
            per_room
        };
        let homes = homes_seen_by(clusters.clone()).await;
        for id in ["node-a", "node-b", "node-c"] {
            assert!(homes.iter().any(|h| h == id), "{set:?}: 60 rooms spread over every node: {homes:?}");
        }
        // The same answers later: the lease holds.
        assert_eq!(homes_seen_by(clusters.clone()).await, homes);

        // node-b dies (stops renewing); once it has lapsed, its rooms go to one survivor each,
        // and the others stay where they were.
        clusters[1].halt();
        until_listed(&[&nodes[0], &nodes[2]], &["node-a", "node-c"]).await;
        let after = homes_seen_by(vec![clusters[0].clone(), clusters[2].clone()]).await;
        for (room, (before, now)) in homes.iter().zip(&after).enumerate() {
            assert_ne!(now, "node-b", "room {}: still on the dead node", room + 1);
            if before != "node-b" {
                assert_eq!(now, before, "room {}: moved though its home lives", room + 1);
            }
        }
        // A node that joins takes no room that already has a live home (no churn).
        let d = spawn_cluster(&storage, &["node-d"]).await.pop().unwrap();
        until_listed(&[&nodes[0], &nodes[2], &d], &["node-a", "node-c", "node-d"]).await;
        let with_d =
            homes_seen_by(vec![clusters[0].clone(), clusters[2].clone(), d.state.svc.cluster.clone().unwrap()]).await;
        assert_eq!(with_d, after, "{set:?}: homes stay put when a node joins");
        for n in nodes.iter().chain([&d]) {
            n.stop().await;
        }
        storage.cleanup().await;
    }
}

#[actix_web::test]
async fn chat_sent_on_any_node_reaches_viewers_on_a_b_and_c_once_each_in_one_seq_order() {
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let home = nodes[0].state.svc.cluster.as_ref().unwrap().home_of(room).await.unwrap();

        // One viewer on each node, each on the node it asked its ticket of.
        let mut sockets = Vec::new();
        for n in &nodes {
            let (t, _) = n.new_user().await;
            let (ws, welcome) = n.join(room, &t).await;
            assert_eq!(welcome["data"]["last_seq"], 0, "{set:?}: {welcome}");
            sockets.push(ws);
        }
        // Each sends four chats: twelve in all, through the home and two mirrors.
        for round in 0..4 {
            for (i, ws) in sockets.iter_mut().enumerate() {
                ws.chat(&format!("from {i} #{round}")).await;
            }
        }
        let mut seen = Vec::new();
        for (i, ws) in sockets.iter_mut().enumerate() {
            let mut chats = Vec::new();
            while chats.len() < 12 {
                let f = ws.expect("chat").await;
                chats.push((f["seq"].as_u64().unwrap(), f["data"]["text"].as_str().unwrap().to_owned()));
            }
            assert!(
                ws.quiet_of("chat", std::time::Duration::from_millis(300)).await,
                "{set:?}: viewer on node {i} got a chat twice"
            );
            let seqs: Vec<u64> = chats.iter().map(|c| c.0).collect();
            assert_eq!(seqs, (1..=12).collect::<Vec<u64>>(), "{set:?}: viewer on node {i}: one gapless order");
            let mut texts: Vec<&str> = chats.iter().map(|c| c.1.as_str()).collect();
            texts.sort_unstable();
            texts.dedup();
            assert_eq!(texts.len(), 12, "{set:?}: every chat once");
            seen.push(chats);
        }
        assert_eq!(seen[0], seen[1], "{set:?}: the same order on every node (home {home})");
        assert_eq!(seen[1], seen[2], "{set:?}: the same order on every node (home {home})");

        // A viewer who joins a mirror later starts from the home's seq and its recent chats.
        let mirror = nodes.iter().find(|n| n.state.svc.cluster.as_ref().unwrap().node_id() != home).unwrap();
        let (t, _) = mirror.new_user().await;
        let (_late, welcome) = mirror.join(room, &t).await;
        assert_eq!(welcome["data"]["last_seq"], 12, "{set:?}: {welcome}");
        assert_eq!(welcome["data"]["recent"].as_array().unwrap().len(), 12, "{set:?}: {welcome}");

        stop_all(&nodes, storage).await;
    }
}

#[actix_web::test]
async fn when_the_home_dies_a_survivor_takes_the_room_over_and_its_viewers_resync_and_chat_on() {
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let home = nodes[0].state.svc.cluster.as_ref().unwrap().home_of(room).await.unwrap();
        let mut sockets = Vec::new();
        for n in &nodes {
            let (t, _) = n.new_user().await;
            sockets.push(n.join(room, &t).await.0);
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            ws.chat(&format!("before {i}")).await;
        }
        for ws in sockets.iter_mut() {
            for _ in 0..3 {
                ws.expect("chat").await;
            }
        }

        // The home dies: it stops renewing and stops serving, without leaving.
        let dead = nodes.iter().position(|n| n.state.svc.cluster.as_ref().unwrap().node_id() == home).unwrap();
        nodes[dead].state.svc.cluster.as_ref().unwrap().halt();
        nodes[dead].stop().await;
        let died = tokio::time::Instant::now();
        let survivors: Vec<usize> = (0..3).filter(|i| *i != dead).collect();
        for &i in &survivors {
            sockets[i].expect("resync").await;
        }
        assert!(died.elapsed() < std::time::Duration::from_secs(5), "{set:?}: taken over in {:?}", died.elapsed());
        let new_home = nodes[survivors[0]].state.svc.cluster.as_ref().unwrap().home_of(room).await.unwrap();
        assert_ne!(new_home, home, "{set:?}");

        // The survivors' viewers chat on, numbered after what the room had reached.
        for &i in &survivors {
            sockets[i].chat(&format!("after {i}")).await;
        }
        let mut seen = Vec::new();
        for &i in &survivors {
            let a = sockets[i].expect("chat").await;
            let b = sockets[i].expect("chat").await;
            let got = [
                (a["seq"].as_u64().unwrap(), a["data"]["text"].clone()),
                (b["seq"].as_u64().unwrap(), b["data"]["text"].clone()),
            ];
            assert!(got[0].0 > 3 && got[1].0 == got[0].0 + 1, "{set:?}: numbered on after 3: {got:?}");
            seen.push(got);
        }
        assert_eq!(seen[0], seen[1], "{set:?}: one order on both survivors");
        for &i in &survivors {
            nodes[i].stop().await;
        }
        storage.cleanup().await;
    }
}

#[actix_web::test]
async fn moderation_asked_of_any_node_holds_for_viewers_on_every_node() {
    use serde_json::json;
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let home = nodes[0].state.svc.cluster.as_ref().unwrap().home_of(room).await.unwrap();
        let id = |n: &TestApp| n.state.svc.cluster.as_ref().unwrap().node_id().to_owned();
        // The viewer sits on a mirror; the anchor moderates through another node.
        let (vi, mi) = {
            let mirrors: Vec<usize> = (0..3).filter(|i| id(&nodes[*i]) != home).collect();
            (mirrors[0], mirrors[1])
        };
        let (viewer, viewer_id) = nodes[vi].new_user().await;
        let (mut ws, _) = nodes[vi].join(room, &viewer).await;
        let (watcher, _) = nodes[mi].new_user().await;
        let (mut watching, _) = nodes[mi].join(room, &watcher).await;
        let by = &nodes[mi];

        // A mute asked of one mirror stops the viewer's chat on the other.
        let (s, b) =
            by.post(&format!("/api/rooms/{room}/mutes"), &anchor, json!({"user_id": viewer_id, "seconds": 60})).await;
        assert_eq!(s, 200, "{set:?}: {b}");
        ws.expect("muted").await;
        ws.chat("am I muted?").await;
        let refusal = ws.expect("error").await;
        assert_eq!(refusal["data"]["code"], "muted", "{set:?}: {refusal}");
        let (s, _) = by.delete(&format!("/api/rooms/{room}/mutes/{viewer_id}"), &anchor).await;
        assert_eq!(s.as_u16() / 100, 2);

        // A chat deleted through the other mirror leaves every node's history.
        ws.chat("delete me").await;
        let chat = watching.expect("chat").await;
        let seq = chat["seq"].as_u64().unwrap();
        let (s, b) = by.delete(&format!("/api/rooms/{room}/messages/{seq}"), &anchor).await;
        assert_eq!(s.as_u16() / 100, 2, "{set:?}: {b}");
        ws.expect("chat_deleted").await;
        let (late, _) = nodes[vi].new_user().await;
        let (_l, welcome) = nodes[vi].join(room, &late).await;
        assert!(welcome["data"]["recent"].as_array().unwrap().iter().all(|c| c["seq"] != seq), "{set:?}: {welcome}");

        // Slow mode set through one node is enforced for a viewer on another.
        let (s, _) = by
            .call(
                reqwest::Method::PUT,
                &format!("/api/rooms/{room}/slow-mode"),
                Some(&anchor),
                Some(json!({"seconds": 30})),
            )
            .await;
        assert_eq!(s.as_u16() / 100, 2);
        ws.expect("slow_mode").await;
        // Its last chat was a moment ago.
        ws.chat("too soon").await;
        assert_eq!(ws.expect("error").await["data"]["code"], "slow_mode", "{set:?}");

        // A kick asked of one mirror closes the viewer's socket on the other.
        let (s, _) = by.post(&format!("/api/rooms/{room}/kicks"), &anchor, json!({"user_id": viewer_id})).await;
        assert_eq!(s.as_u16() / 100, 2);
        assert_eq!(ws.expect_close().await, 4003, "{set:?}");

        // The close, asked of whichever node, closes every node's sockets.
        let (s, _) = by.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s.as_u16() / 100, 2);
        watching.expect("room_closed").await;
        assert_eq!(watching.expect_close().await, 4004, "{set:?}");
        stop_all(&nodes, storage).await;
    }
}

/// Waits for a frame of `kind` whose `data[field]` is `want` (earlier ones may say less).
async fn until_frame(ws: &mut crate::ws_client::Ws, kind: &str, field: &str, want: u64) {
    loop {
        let f = ws.expect(kind).await;
        if f["data"][field].as_u64() == Some(want) {
            return;
        }
    }
}

#[actix_web::test]
async fn online_and_likes_count_viewers_and_likes_on_every_node() {
    use serde_json::json;
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let mut sockets = Vec::new();
        let mut ids = Vec::new();
        for n in &nodes {
            let (t, id) = n.new_user().await;
            sockets.push(n.join(room, &t).await.0);
            ids.push(id);
        }
        // The first viewer hears the others come in, on whatever node, by name, and the count.
        let (mut named, mut online) = (std::collections::BTreeSet::new(), 0);
        while !(named.contains(&ids[1]) && named.contains(&ids[2]) && online == 3) {
            match sockets[0].next(std::time::Duration::from_secs(10)).await {
                crate::ws_client::Got::Frame(f) if f["type"] == "entered" => {
                    named.extend(f["data"]["users"].as_array().unwrap().iter().filter_map(|u| u["id"].as_i64()))
                }
                crate::ws_client::Got::Frame(f) if f["type"] == "online" => {
                    online = f["data"]["count"].as_u64().unwrap()
                }
                crate::ws_client::Got::Frame(_) => {}
                other => panic!("{set:?}: waiting for entered and online: {other:?}, named {named:?}"),
            }
        }
        for ws in sockets.iter_mut().skip(1) {
            until_frame(ws, "online", "count", 3).await;
        }
        // A node with no viewer of the room (and no actor for it) lists it with its online
        // count too, as the home last counted it.
        let d = spawn_cluster(&storage, &["node-d"]).await.pop().unwrap();
        let (t, _) = d.new_user().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let (_, list) = d.get("/api/rooms", &t).await;
            let listed = list["items"].as_array().and_then(|a| a.iter().find(|r| r["id"] == room).cloned());
            let (_, one) = d.get(&format!("/api/rooms/{room}"), &t).await;
            if listed.as_ref().is_some_and(|r| r["online"] == 3) && one["online"] == 3 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{set:?}: node-d lists {listed:?} and shows {one}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        d.stop().await;
        // Likes sent on every node add up, and every node shows the total.
        for ws in sockets.iter_mut() {
            ws.send(json!({"type": "like", "data": {"count": 5}})).await;
        }
        for ws in sockets.iter_mut() {
            until_frame(ws, "likes", "total", 15).await;
        }
        // A viewer leaving one node is counted out everywhere.
        sockets.pop().unwrap().close().await;
        for ws in sockets.iter_mut() {
            until_frame(ws, "online", "count", 2).await;
        }
        stop_all(&nodes, storage).await;
    }
}

#[actix_web::test]
async fn a_notice_raised_on_one_node_reaches_the_users_socket_on_another() {
    use serde_json::json;
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        let (anchor, _) = a.new_user().await;
        let room = a.open_room(&anchor, "normal").await;
        let product = a.approved_product(&anchor, 20, 5).await;
        let (buyer, _) = a.new_user().await;
        a.recharge(&buyer, 1).await;
        // The buyer watches from node B; the order is placed and paid through node A.
        let (mut ws, _) = b.join(room, &buyer).await;
        let (s, _) =
            a.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": product, "count": 1})).await;
        assert_eq!(s, 200);
        let (s, order) = a.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!(s, 201, "{order}");
        let (s, paid) = a.post(&format!("/api/orders/{}/pay", order["id"]), &buyer, json!({})).await;
        assert_eq!(s, 200, "{paid}");
        let notice = ws.expect("notice").await;
        assert_eq!(notice["data"]["kind"], "order_paid", "{set:?}: {notice}");
        stop_all(&nodes, storage).await;
    }
}

#[actix_web::test]
async fn a_thousand_buyers_through_three_nodes_reserve_exactly_the_stock() {
    use serde_json::json;
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let product = nodes[0].approved_product(&anchor, 20, 37).await;
        let buyers = futures_util::future::join_all((0..1000).map(|i| {
            let n = &nodes[i % 3];
            async move {
                let (t, _) = n.new_user().await;
                let (s, _) = n
                    .post(&format!("/api/rooms/{room}/cart/items"), &t, json!({"product_id": product, "count": 1}))
                    .await;
                assert_eq!(s, 200);
                (i % 3, t)
            }
        }))
        .await;
        // Everyone orders at once, each through the node they came in on.
        let answers = futures_util::future::join_all(buyers.iter().map(|(k, t)| {
            let n = &nodes[*k];
            async move { n.post(&format!("/api/rooms/{room}/orders"), t, json!({})).await.0.as_u16() }
        }))
        .await;
        let reserved = answers.iter().filter(|s| **s == 201).count();
        let sold_out = answers.iter().filter(|s| **s == 409).count();
        assert_eq!((reserved, sold_out), (37, 963), "{set:?}: exactly the stock, the rest sold out: {answers:?}");
        let (_, shelf) = nodes[1].get(&format!("/api/rooms/{room}/products"), &anchor).await;
        assert_eq!(shelf["items"][0]["left"], 0, "{set:?}: {shelf}");
        stop_all(&nodes, storage).await;
    }
}

#[actix_web::test]
async fn five_hundred_grabbers_through_three_nodes_claim_each_packet_once() {
    use serde_json::json;
    for set in cluster_sets() {
        let storage = Storage::fresh(set).await;
        let nodes = spawn_cluster_with(&storage, &["node-a", "node-b", "node-c"], |s| {
            s.limits.enabled = false;
            s.rain.duration_s = 300;
        })
        .await;
        until_listed(&[&nodes[0], &nodes[1], &nodes[2]], &["node-a", "node-b", "node-c"]).await;
        // The anchor prepares and starts through node B, whichever node is the room's home.
        let (a, b) = (&nodes[0], &nodes[1]);
        let (anchor, _) = a.new_user().await;
        let room = a.open_room(&anchor, "normal").await;
        a.approved_rain(&anchor, 6_000, 2_000).await;
        a.recharge(&anchor, 5).await;
        let (s, r) = b.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{set:?}: {r}");
        let (s, r) = b.post(&format!("/api/rooms/{room}/rain/start"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{set:?}: {r}");
        let mut users = vec![];
        for _ in 0..10 {
            let logins = (0..50).map(|i| nodes[i % 3].new_user());
            users.extend(futures_util::future::join_all(logins).await.into_iter().map(|(t, _)| t));
        }
        let path = format!("/api/rooms/{room}/rain/grab");
        let grabbers = users.iter().enumerate().map(|(i, t)| {
            let (n, path) = (&nodes[i % 3], &path);
            async move {
                let mut sum = 0;
                loop {
                    let (s, b) = n.post(path, t, json!({})).await;
                    match s.as_u16() {
                        200 => sum += b["amount"].as_i64().unwrap(),
                        409 if b["error"]["code"] == "rain_empty" => return sum,
                        _ => panic!("grab through node {}: {s} {b}", i % 3),
                    }
                }
            }
        });
        let sums = futures_util::future::join_all(grabbers).await;
        assert_eq!(sums.iter().sum::<i64>(), 6_000, "{set:?}: every coin handed out once");
        for (i, (t, sum)) in users.iter().zip(&sums).enumerate() {
            assert_eq!(nodes[(i + 1) % 3].balance(t).await, *sum, "{set:?}: balance matches what the grabs said");
        }
        stop_all(&nodes, storage).await;
    }
}

#[actix_web::test]
async fn gifts_sent_through_three_nodes_reach_every_viewer_and_one_ranking() {
    use serde_json::json;
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let mut sockets = Vec::new();
        for n in &nodes {
            let (t, _) = n.new_user().await;
            sockets.push(n.join(room, &t).await.0);
        }
        let (fan, fan_id) = nodes[0].new_user().await;
        nodes[0].recharge(&fan, 1).await;
        for n in &nodes {
            let (s, b) = n.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 2})).await;
            assert_eq!(s, 200, "{set:?}: {b}");
        }
        for ws in sockets.iter_mut() {
            for _ in 0..3 {
                ws.expect("gift").await;
            }
        }
        for n in &nodes {
            let (_, r) = n.get(&format!("/api/rooms/{room}/ranking"), &anchor).await;
            assert_eq!(r[0]["user"]["id"].as_i64(), Some(fan_id), "{set:?}: {r}");
            assert_eq!(r[0]["coins"], 30, "{set:?}: every node's gift counted once, asked of any node: {r}");
        }
        stop_all(&nodes, storage).await;
    }
}

/// Sixty crowns at once, through three nodes and both anchors' rooms, two thirds to the host:
/// a side wins by knockout at some point of the commit order. Each counted gift took its
/// place in the PK's order as it committed (1..=n, none twice, whatever node took it), the
/// rule applied in that order reaches the knockout at the last counted gift and not before
/// (no gift counted after it), the stored tally is that of the counted gifts, and viewers of
/// both rooms on every node see that score and one winner, once.
#[actix_web::test]
async fn gifts_sent_through_three_nodes_give_the_pk_score_of_the_rule_applied_in_commit_order() {
    use liveroom::domain::pk::{apply_gift, is_knockout, Side};
    use serde_json::json;
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (host, hid) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&host, "pk").await;
        let (ch, cid) = nodes[2].new_user().await;
        let ch_room = nodes[2].open_room(&ch, "normal").await;
        // Viewers of the host's room on every node, and of the challenger's room on two.
        let mut viewers = Vec::new();
        for n in &nodes {
            let (t, _) = n.new_user().await;
            viewers.push(n.join(room, &t).await.0);
        }
        for n in &nodes[..2] {
            let (t, _) = n.new_user().await;
            viewers.push(n.join(ch_room, &t).await.0);
        }
        // Joined through a node that need not be the home of the host's room.
        let (s, b) = nodes[1].post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
        assert_eq!(s, 200, "{set:?}: {b}");
        let pk_id = b["id"].as_i64().unwrap();
        for ws in viewers.iter_mut() {
            ws.expect("pk_started").await;
        }
        // A node that starts mirroring the challenger's room in the middle of the PK shows it.
        let (late, _) = nodes[2].new_user().await;
        let (late_ws, welcome) = nodes[2].join(ch_room, &late).await;
        assert_eq!(welcome["data"]["pk"]["status"], "running", "{set:?}: {welcome}");
        viewers.push(late_ws);
        let mut senders = Vec::new();
        for i in 0..30 {
            let n = &nodes[i % 3];
            let (t, _) = n.new_user().await;
            n.recharge(&t, 2).await;
            senders.push((i, t));
        }
        let sends = senders.iter().flat_map(|(i, t)| {
            let n = &nodes[i % 3];
            (0..2).map(move |k| async move {
                // Two of three crowns to the host in the host's room, the others to the
                // challenger in the challenger's room: each to its room's anchor, so none is
                // refused once the knockout has decided the PK (a gift to the other side needs
                // a running PK).
                if (i + k) % 3 != 2 {
                    n.post(&format!("/api/rooms/{room}/gifts"), t, json!({"gift_id": 4, "to": hid})).await
                } else {
                    n.post(&format!("/api/rooms/{ch_room}/gifts"), t, json!({"gift_id": 4})).await
                }
            })
        });
        for (s, b) in futures_util::future::join_all(sends).await {
            assert_eq!(s, 200, "{set:?}: {b}");
        }
        let mut ended = Vec::new();
        for ws in viewers.iter_mut() {
            ended.push(ws.expect("pk_ended").await);
        }
        let rows = liveroom::storage::pks::counted_gifts(&nodes[0].state.b.db, pk_id).await.unwrap();
        let n = rows.len() as i64;
        assert!(n >= 5, "{set:?}: a knockout needs five host crowns at least; {n} counted");
        assert_eq!(rows.iter().map(|r| r.pk_seq).collect::<Vec<_>>(), (1..=n).map(Some).collect::<Vec<_>>());
        let mut score = 50;
        for (k, r) in rows.iter().enumerate() {
            assert!(!is_knockout(score), "{set:?}: gift {} counted after the knockout", k + 1);
            score = apply_gift(
                score,
                if r.to_id == hid { Side::Host } else { Side::Challenger },
                r.coins,
                liveroom::domain::pk::COINS_PER_POINT,
            );
        }
        assert!(is_knockout(score), "{set:?}: the last counted gift is the knockout: {score}");
        // Mostly the host's (two crowns of three), but the commit order decides.
        let winner = if score == 100 { hid } else { cid };
        let coins = |side: i64| rows.iter().filter(|r| r.to_id == side).map(|r| r.coins).sum::<i64>();
        let p = liveroom::storage::pks::find(&nodes[0].state.b.db, pk_id).await.unwrap().unwrap();
        assert_eq!(
            (p.status.as_str(), p.score, p.winner, p.gifts, p.host_coins, p.challenger_coins),
            ("ended", score, Some(winner), n, coins(hid), coins(cid)),
            "{set:?}"
        );
        for e in &ended {
            assert_eq!(
                (&e["data"]["pk"]["score"], &e["data"]["winner"], &e["data"]["pk"]["host_coins"]),
                (&json!(score), &json!(winner), &json!(coins(hid))),
                "{set:?}: {e}"
            );
        }
        for ws in viewers.iter_mut() {
            assert!(ws.quiet_of("pk_ended", std::time::Duration::from_millis(1000)).await, "{set:?}: announced once");
        }
        for n in &nodes {
            let (_, v) = n.get(&format!("/api/rooms/{room}/pk"), &host).await;
            assert_eq!((v["status"].as_str(), v["score"].as_i64()), (Some("ended"), Some(score)), "{set:?}: {v}");
        }
        stop_all(&nodes, storage).await;
    }
}

/// Redis goes away for a second and comes back (every node's connections dropped, new ones
/// refused meanwhile): the bus subscribes again by itself, so chat sent through a mirror
/// reaches the home and comes back to viewers on every node. Membership is given longer than
/// the cut, so no home moves. A single Redis only: the cut is a proxy in front of it.
#[actix_web::test]
async fn after_redis_comes_back_the_bus_subscribes_again_and_chat_crosses_nodes() {
    if crate::helpers::redis_url().contains(',') {
        return;
    }
    for set in cluster_sets() {
        let storage = Storage::fresh(set).await;
        let redis = crate::proxy::CutProxy::start("127.0.0.1:6379").await;
        let url = redis.url(&storage.redis_url, 6379);
        let nodes = spawn_cluster_with(&storage, &["node-a", "node-b", "node-c"], |s| {
            s.redis.url = url.clone();
            s.cluster.expire_ms = 10_000;
        })
        .await;
        until_listed(&[&nodes[0], &nodes[1], &nodes[2]], &["node-a", "node-b", "node-c"]).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let mut sockets = Vec::new();
        for n in &nodes {
            let (t, _) = n.new_user().await;
            sockets.push(n.join(room, &t).await.0);
        }
        sockets[1].chat("before").await;
        for ws in sockets.iter_mut() {
            ws.expect("chat").await;
        }

        redis.cut();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        redis.restore();

        // Each viewer in turn chats until every viewer has heard one of its chats after the cut
        // (the first may be refused, or missed, while the connections come back).
        for from in 0..3 {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
            let text = format!("after, from {from}");
            let mut heard = [false; 3];
            while !heard.iter().all(|h| *h) {
                assert!(tokio::time::Instant::now() < deadline, "{set:?}: chat from node {from} heard by {heard:?}");
                sockets[from].chat(&text).await;
                for (i, ws) in sockets.iter_mut().enumerate() {
                    if !heard[i] {
                        heard[i] = ws.until_chat(&text, std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        }
        stop_all(&nodes, storage).await;
    }
}

/// The home pauses past its membership's expiry (it stops renewing but goes on serving, as a
/// node frozen by a long GC pause or a stalled VM would): a survivor takes the room over under
/// a newer lease. What the paused home still numbers for its own viewers is stamped with the
/// old lease, and the other nodes' viewers never see it. When it wakes, its renewal says it
/// lapsed, it steps down to a mirror of the new home, its viewers resync, and chat flows both
/// ways again in one order.
#[actix_web::test]
async fn a_paused_home_is_fenced_off_and_steps_down_when_it_wakes() {
    for set in cluster_sets() {
        let (storage, nodes) = three_nodes(set).await;
        let (anchor, _) = nodes[0].new_user().await;
        let room = nodes[0].open_room(&anchor, "normal").await;
        let home = nodes[0].state.svc.cluster.as_ref().unwrap().home_of(room).await.unwrap();
        let mut sockets = Vec::new();
        for n in &nodes {
            let (t, _) = n.new_user().await;
            sockets.push(n.join(room, &t).await.0);
        }
        sockets[0].chat("before").await;
        for ws in sockets.iter_mut() {
            ws.expect("chat").await;
        }
        let paused = nodes.iter().position(|n| n.state.svc.cluster.as_ref().unwrap().node_id() == home).unwrap();
        let others: Vec<usize> = (0..3).filter(|i| *i != paused).collect();
        let cluster = |i: usize| nodes[i].state.svc.cluster.as_ref().unwrap();

        cluster(paused).halt();
        for &i in &others {
            sockets[i].expect("resync").await;
        }
        // The paused home still takes its own viewer's chat, before anyone else chats: without
        // the fence its frame (the next seq) would be taken by the others' mirrors.
        sockets[paused].chat("stale").await;
        assert!(sockets[paused].until_chat("stale", std::time::Duration::from_secs(2)).await, "{set:?}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sockets[others[0]].chat("fresh").await;
        for &i in &others {
            let f = sockets[i].expect("chat").await;
            assert_eq!(f["data"]["text"], "fresh", "{set:?}: the paused home's chat reached node {i}: {f}");
        }

        cluster(paused).resume();
        sockets[paused].expect("resync").await;
        sockets[others[1]].chat("after").await;
        sockets[paused].chat("from the old home").await;
        let mut seen = Vec::new();
        for ws in sockets.iter_mut() {
            let a = ws.expect("chat").await;
            let b = ws.expect("chat").await;
            seen.push([(a["seq"].clone(), a["data"]["text"].clone()), (b["seq"].clone(), b["data"]["text"].clone())]);
        }
        assert_eq!(seen[0], seen[1], "{set:?}: one order on every node");
        assert_eq!(seen[1], seen[2], "{set:?}: one order on every node");
        stop_all(&nodes, storage).await;
    }
}
