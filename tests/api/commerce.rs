//! Live commerce: products, carts, orders that reserve stock, pay and expiry racing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use liveroom::storage::entities::{orders, products};
use liveroom::storage::outbox::Outbox;
use liveroom::storage::queue::{DelayQueue, JobRouter, QueueError};
use liveroom::storage::Backends;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

impl TestApp {
    /// An approved product of `anchor`; returns its id.
    pub async fn approved_product(&self, anchor: &str, price: i64, stock: i64) -> i64 {
        let (s, p) =
            self.post("/api/products", anchor, json!({"name": "Lipstick", "price": price, "stock": stock})).await;
        assert_eq!(s, 201, "{p}");
        let id = p["id"].as_i64().unwrap();
        let admin = self.admin().await;
        let (s, _) = self.post(&format!("/api/admin/products/{id}/approve"), &admin, json!({})).await;
        assert_eq!(s, 200);
        id
    }
}

#[actix_web::test]
async fn products_are_applied_for_approved_and_shelved() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, aid) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    for (body, field) in [
        (json!({"name": "", "price": 1, "stock": 1}), "name"),
        (json!({"name": "x".repeat(61), "price": 1, "stock": 1}), "name"),
        (json!({"name": "a", "price": 0, "stock": 1}), "price"),
        (json!({"name": "a", "price": 1, "stock": 0}), "stock"),
        (json!({"name": "a", "price": 1, "stock": 1_000_001}), "stock"),
    ] {
        let (s, b) = app.post("/api/products", &anchor, body.clone()).await;
        assert_eq!((s.as_u16(), b["error"]["field"].as_str()), (400, Some(field)), "{body}");
    }
    let (s, p) = app.post("/api/products", &anchor, json!({"name": "Tea", "price": 30, "stock": 5})).await;
    assert_eq!(s, 201);
    assert_eq!(
        (p["status"].as_str(), p["left"].as_i64(), p["anchor_id"].as_i64()),
        (Some("pending"), Some(5), Some(aid))
    );
    let (_, shelf) = app.get(&format!("/api/rooms/{room}/products"), &anchor).await;
    assert_eq!(shelf["items"], json!([]), "pending products are not on the shelf");
    let admin = app.admin().await;
    let (s, _) = app.get("/api/admin/products?status=pending", &anchor).await;
    assert_eq!(s, 403);
    let (_, page) = app.get("/api/admin/products?status=pending", &admin).await;
    assert_eq!(page["total"], 1);
    let (viewer, _) = app.new_user().await;
    let (mut v, _) = app.join(room, &viewer).await;
    let id = p["id"].as_i64().unwrap();
    let (s, p) = app.post(&format!("/api/admin/products/{id}/approve"), &admin, json!({})).await;
    assert_eq!((s.as_u16(), p["status"].as_str()), (200, Some("approved")));
    let f = v.expect("products").await;
    assert_eq!(f["data"]["items"][0]["id"], id);
    let (_, shelf) = app.get(&format!("/api/rooms/{room}/products"), &viewer).await;
    assert_eq!(shelf["items"][0]["left"], 5);
    let (_, me) = app.get("/api/me", &anchor).await;
    assert_eq!(me["privileges"]["commerce"], true);
    let (_, r) = app.get(&format!("/api/rooms/{room}"), &viewer).await;
    assert_eq!(r["products"][0]["id"], id);
}

#[actix_web::test]
async fn carts_and_orders_follow_the_contract() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let a = app.approved_product(&anchor, 20, 2).await;
        let b = app.approved_product(&anchor, 50, 1).await;
        let (buyer, _) = app.new_user().await;
        let (s, e) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "cart_empty"));
        let (s, c) =
            app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": a, "count": 2})).await;
        assert_eq!(s, 200, "{c}");
        // More than is left is refused at the cart, by name; what is left goes in.
        let (s, e) =
            app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": b, "count": 2})).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "sold_out"), "{e}");
        let (_, c) =
            app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": b, "count": 1})).await;
        assert_eq!(c["total"], 20 * 2 + 50);
        assert_eq!(c["items"].as_array().unwrap().len(), 2);
        assert_eq!(c["items"][0], json!({"product_id": a, "name": "Lipstick", "price": 20, "count": 2}));
        for (body, st) in [
            (json!({"product_id": a, "count": 0}), 400),
            (json!({"product_id": a, "count": 100}), 400),
            (json!({"product_id": 12345, "count": 1}), 404),
        ] {
            let (s, _) = app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, body.clone()).await;
            assert_eq!(s, st, "{body}");
        }
        // Another viewer puts a in their cart while it has stock; a rival buys b's last one.
        let (other, _) = app.new_user().await;
        let (s, _) =
            app.post(&format!("/api/rooms/{room}/cart/items"), &other, json!({"product_id": a, "count": 1})).await;
        assert_eq!(s, 200);
        let (rival, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &rival, json!({"product_id": b, "count": 1})).await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/orders"), &rival, json!({})).await;
        assert_eq!(s, 201);
        // b has none left now: a is reserved, b stays in the cart.
        let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!(s, 201, "{o}");
        assert_eq!(o["status"], "pending");
        assert_eq!(o["total"], 40);
        let reserved: Vec<(i64, bool)> = o["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["product_id"].as_i64().unwrap(), i["reserved"].as_bool().unwrap()))
            .collect();
        assert!(reserved.contains(&(a, true)) && reserved.contains(&(b, false)), "{o}");
        let (_, c) = app.get(&format!("/api/rooms/{room}/cart"), &buyer).await;
        assert_eq!(c["items"].as_array().unwrap().len(), 1);
        assert_eq!(c["items"][0]["product_id"], b);
        let oid = o["id"].as_i64().unwrap();
        let (s, e) = app.post(&format!("/api/orders/{oid}/pay"), &buyer, json!({})).await;
        assert_eq!((s.as_u16(), code(&e)), (402, "insufficient_balance"));
        app.recharge(&buyer, 1).await;
        let (s, paid) = app.post(&format!("/api/orders/{oid}/pay"), &buyer, json!({})).await;
        assert_eq!((s.as_u16(), paid["status"].as_str()), (200, Some("paid")), "{paid}");
        assert_eq!(app.balance(&buyer).await, 20);
        let (s, e) = app.post(&format!("/api/orders/{oid}/pay"), &buyer, json!({})).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "not_pending"));
        assert_eq!(app.balance(&buyer).await, 20, "paid once");
        let (s, _) = app.get(&format!("/api/orders/{oid}"), &other).await;
        assert_eq!(s, 404);
        let (_, mine) = app.get("/api/orders?status=paid", &buyer).await;
        assert_eq!(mine["total"], 1);
        // a is sold out now: a cart of only a (filled while it had stock) gets sold_out.
        let (s, _) = app.delete(&format!("/api/rooms/{room}/cart/items/{b}"), &buyer).await;
        assert_eq!(s, 200);
        let (s, e) = app.post(&format!("/api/rooms/{room}/orders"), &other, json!({})).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "sold_out"));
    }
}

#[actix_web::test]
async fn orders_are_limited_to_three_per_five_seconds() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let p = app.approved_product(&anchor, 1, 100).await;
    let (buyer, _) = app.new_user().await;
    let mut statuses = vec![];
    for _ in 0..4 {
        app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": p, "count": 1})).await;
        statuses.push(app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await.0.as_u16());
    }
    assert_eq!(statuses, vec![201, 201, 201, 429]);
}

#[actix_web::test]
async fn a_thousand_buyers_race_for_a_hundred_units_and_none_is_oversold() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let p = app.approved_product(&anchor, 10, 100).await;
        let mut buyers = vec![];
        for _ in 0..20 {
            let logins = (0..50).map(|_| app.new_user());
            buyers.extend(futures_util::future::join_all(logins).await.into_iter().map(|(t, _)| t));
        }
        let app = &app;
        let adds = buyers.iter().map(|t| async move {
            app.post(&format!("/api/rooms/{room}/cart/items"), t, json!({"product_id": p, "count": 1})).await
        });
        futures_util::future::join_all(adds).await;
        let orders =
            buyers.iter().map(|t| async move { app.post(&format!("/api/rooms/{room}/orders"), t, json!({})).await });
        let res = futures_util::future::join_all(orders).await;
        let ok = res.iter().filter(|(s, _)| *s == 201).count();
        let sold_out = res.iter().filter(|(s, b)| *s == 409 && code(b) == "sold_out").count();
        assert_eq!((ok, sold_out), (100, 900));
        let (_, shelf) = app.get(&format!("/api/rooms/{room}/products"), &buyers[0]).await;
        assert_eq!(shelf["items"][0]["left"], 0);
    }
}

#[actix_web::test]
async fn pay_and_expiry_raced_two_hundred_times_end_one_way_each() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.commerce.order_expiry_s = 1;
            s.commerce.max_pending_units_per_product = 1000;
            s.limits.enabled = false;
        })
        .await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let p = app.approved_product(&anchor, 1, 1000).await;
        let (buyer, _) = app.new_user().await;
        app.recharge(&buyer, 2).await; // 300 coins
        let mut ids = vec![];
        let mut edges = vec![];
        for _ in 0..200 {
            app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": p, "count": 1})).await;
            let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
            assert_eq!(s, 201, "{o}");
            ids.push(o["id"].as_i64().unwrap());
            let at = chrono::DateTime::parse_from_rfc3339(o["expires_at"].as_str().unwrap()).unwrap();
            edges.push(at.timestamp_millis());
        }
        // Pay each one within 150 ms either side of its own expiry, while the expiry job runs.
        let app = &app;
        let buyer = &buyer;
        let pays = ids.iter().zip(&edges).enumerate().map(|(i, (id, edge))| async move {
            let target = edge + (i as i64 % 31 - 15) * 10;
            let wait = target - chrono::Utc::now().timestamp_millis();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            app.post(&format!("/api/orders/{id}/pay"), buyer, json!({})).await
        });
        let res = futures_util::future::join_all(pays).await;
        for (s, b) in &res {
            assert!(*s == 200 || (*s == 410 && code(b) == "expired"), "{s} {b}");
        }
        // Let every expiry job run.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let mut paid = 0;
        for (id, (s, _)) in ids.iter().zip(&res) {
            let (_, o) = app.get(&format!("/api/orders/{id}"), buyer).await;
            let st = o["status"].as_str().unwrap().to_owned();
            assert!(st == "paid" || st == "expired", "{o}");
            if *s == 200 {
                assert_eq!(st, "paid", "an order answered paid stays paid");
            }
            if st == "paid" {
                paid += 1;
            }
        }
        let (_, shelf) = app.get(&format!("/api/rooms/{room}/products"), buyer).await;
        assert_eq!(shelf["items"][0]["left"], 1000 - paid, "sold plus left is the stock");
        assert_eq!(app.balance(buyer).await, 300 - paid, "only paid orders were charged");
        assert!(paid > 0 && paid < 200, "the race happened both ways ({paid} paid)");
    }
}

#[actix_web::test]
async fn orders_due_while_the_server_was_down_expire_at_start_up() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.commerce.order_expiry_s = 1).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let p = app.approved_product(&anchor, 5, 3).await;
        let (buyer, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": p, "count": 3})).await;
        let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!(s, 201);
        let oid = o["id"].as_i64().unwrap();
        app.stop().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let app2 = spawn_on(&app.storage, |s| s.commerce.order_expiry_s = 1).await;
        let mut st = String::new();
        for _ in 0..100 {
            st = orders::Entity::find_by_id(oid).one(&app2.state.b.db).await.unwrap().unwrap().status;
            if st == "expired" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(st, "expired");
        let prod = products::Entity::find_by_id(p).one(&app2.state.b.db).await.unwrap().unwrap();
        assert_eq!(prod.left_stock, 3, "the stock came back");
    }
}

/// A delay queue whose broker can be taken down: `schedule` fails while `down` is set, as a
/// RabbitMQ outage or a lost connection would make it.
pub(crate) struct FlakyQueue {
    inner: Arc<dyn DelayQueue>,
    down: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl DelayQueue for FlakyQueue {
    async fn schedule(&self, kind: &str, payload: Value, delay: Duration) -> Result<String, QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError("broker unreachable (test)".into()));
        }
        self.inner.schedule(kind, payload, delay).await
    }
    async fn start(&self, router: Arc<JobRouter>) -> Result<(), QueueError> {
        self.inner.start(router).await
    }
    async fn ping(&self) -> Result<(), QueueError> {
        self.inner.ping().await
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn stop(&self) {
        self.inner.stop()
    }
    async fn drain(&self, limit: Duration) -> bool {
        self.inner.drain(limit).await
    }
}

/// Puts a `FlakyQueue` under the app (and its outbox relay), switched by `down`.
pub(crate) fn flaky(down: Arc<AtomicBool>) -> impl FnOnce(&mut Backends) {
    move |b| {
        let q: Arc<dyn DelayQueue> = Arc::new(FlakyQueue { inner: b.queue.clone(), down });
        b.queue = q.clone();
        b.outbox = Outbox::new(b.db.clone(), q);
    }
}

async fn order_status(app: &TestApp, oid: i64) -> String {
    orders::Entity::find_by_id(oid).one(&app.state.b.db).await.unwrap().unwrap().status
}

async fn left_stock(app: &TestApp, pid: i64) -> i64 {
    products::Entity::find_by_id(pid).one(&app.state.b.db).await.unwrap().unwrap().left_stock
}

/// Polls until the order is expired (60 s at most: the relay backs off while the broker is down).
async fn wait_expired(app: &TestApp, oid: i64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let st = order_status(app, oid).await;
        if st == "expired" || std::time::Instant::now() > deadline {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn hole02_a_broker_outage_at_order_time_still_answers_success_and_the_order_expires() {
    for set in backend_sets() {
        let down = Arc::new(AtomicBool::new(true));
        let app = spawn_app_wrapped(set, |s| s.commerce.order_expiry_s = 2, flaky(down.clone())).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let p = app.approved_product(&anchor, 5, 3).await;
        let (buyer, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": p, "count": 3})).await;
        let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!(s, 201, "a committed order answers success whatever the broker does: {o}");
        let oid = o["id"].as_i64().unwrap();
        assert_eq!(left_stock(&app, p).await, 0);
        // Past its expiry with the broker still down: the expiry waits in the outbox.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(order_status(&app, oid).await, "pending", "{set:?}");
        assert!(app.state.b.outbox.waiting().await.unwrap() >= 1, "the expiry waits in the database");
        // The broker returns: the relay hands the job over and the order expires.
        down.store(false, Ordering::SeqCst);
        assert_eq!(wait_expired(&app, oid).await, "expired", "{set:?}");
        assert_eq!(left_stock(&app, p).await, 3, "the stock came back");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while app.state.b.outbox.waiting().await.unwrap() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(app.state.b.outbox.waiting().await.unwrap(), 0, "relayed rows are deleted");
    }
}

#[actix_web::test]
async fn hole02_a_crash_between_commit_and_scheduling_still_expires_the_order() {
    for set in backend_sets() {
        let down = Arc::new(AtomicBool::new(true));
        let app = spawn_app_wrapped(set, |s| s.commerce.order_expiry_s = 8, flaky(down.clone())).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let p = app.approved_product(&anchor, 5, 3).await;
        let (buyer, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": p, "count": 2})).await;
        let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!(s, 201, "{o}");
        let oid = o["id"].as_i64().unwrap();
        // The process dies before its expiry reached the queue.
        app.stop().await;
        // A new process on the same storage, started before the order is due (so the start-up
        // sweep of overdue orders does not take it), relays the expiry. The dead process may
        // have held the row's claim (30 s) or set its back-off when it stopped: wait past both.
        let app2 = spawn_on(&app.storage, |s| s.commerce.order_expiry_s = 8).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while app2.state.b.outbox.waiting().await.unwrap() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(app2.state.b.outbox.waiting().await.unwrap(), 0, "the new process relayed the expiry");
        assert_eq!(wait_expired(&app2, oid).await, "expired", "{set:?}");
        assert_eq!(left_stock(&app2, p).await, 3, "the stock came back");
    }
}

#[actix_web::test]
async fn hole03_a_stale_stock_count_in_the_room_never_refuses_a_sale_the_database_accepts() {
    use liveroom::actors::room::{Stock, StockLeft};
    use liveroom::storage::commerce as shop;
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.limits.enabled = false).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let p = app.approved_product(&anchor, 5, 5).await;
        let (first, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &first, json!({"product_id": p, "count": 5})).await;
        let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &first, json!({})).await;
        assert_eq!(s, 201, "{o}");
        let addr = app.state.rooms.get(room).expect("the room's actor runs");
        let hint = |addr: actix::Addr<liveroom::actors::room::Room>| async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let known = addr.send(StockLeft { product_ids: vec![p] }).await.unwrap();
                if known.contains_key(&p) || std::time::Instant::now() > deadline {
                    return known.get(&p).copied();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        assert_eq!(hint(addr.clone()).await, Some(0), "the room knows the product sold out");
        // The stock comes back in the database without the room hearing of it (an announcement
        // lost, or made by another node).
        let oid = o["id"].as_i64().unwrap();
        assert!(shop::expire(&app.state.b.db, oid).await.unwrap().is_some());
        let (second, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &second, json!({"product_id": p, "count": 2})).await;
        let (s, o2) = app.post(&format!("/api/rooms/{room}/orders"), &second, json!({})).await;
        assert_eq!(s, 201, "a stale 0 in the room refused a sale the database accepts: {o2}");
        assert_eq!(o2["items"][0]["reserved"], true);
        // A late, stale announcement (older version) arrives after the newer ones: ignored.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while hint(addr.clone()).await != Some(3) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(hint(addr.clone()).await, Some(3), "the room's count healed to the database's");
        addr.send(Stock { product_id: p, left: 0, version: 0 }).await.unwrap();
        assert_eq!(hint(addr.clone()).await, Some(3), "an out-of-order announcement does not overwrite");
        let (third, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &third, json!({"product_id": p, "count": 3})).await;
        // (A fourth viewer's cart takes one while there is stock.)
        let (fourth, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &fourth, json!({"product_id": p, "count": 1})).await;
        let (s, o3) = app.post(&format!("/api/rooms/{room}/orders"), &third, json!({})).await;
        assert_eq!(s, 201, "{o3}");
        assert_eq!(left_stock(&app, p).await, 0);
        // And a truly sold-out product is still refused.
        let (s, e) = app.post(&format!("/api/rooms/{room}/orders"), &fourth, json!({})).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "sold_out"));
    }
}

/// Units of `pid` the user of `token` holds in pending orders, from the database.
async fn held(app: &TestApp, token: &str, pid: i64) -> i64 {
    let (_, page) = app.get("/api/orders?status=pending&page_size=100", token).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["items"].as_array().unwrap().clone())
        .filter(|i| i["product_id"] == pid && i["reserved"] == true)
        .map(|i| i["count"].as_i64().unwrap())
        .sum()
}

#[actix_web::test]
async fn hole09_one_user_cannot_hold_more_than_the_cap_of_one_product_in_pending_orders() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.limits.enabled = false).await;
        assert_eq!(app.state.settings.commerce.max_pending_units_per_product, 5, "the default cap");
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let a = app.approved_product(&anchor, 1, 100).await;
        let (buyer, _) = app.new_user().await;
        let order = |count: i64| {
            let (app, buyer) = (&app, &buyer);
            async move {
                app.post(&format!("/api/rooms/{room}/cart/items"), buyer, json!({"product_id": a, "count": count}))
                    .await;
                app.post(&format!("/api/rooms/{room}/orders"), buyer, json!({})).await
            }
        };
        let (s, first) = order(3).await;
        assert_eq!(s, 201, "{first}");
        let (s, e) = order(3).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "limit_exceeded"), "{e}");
        assert_eq!(left_stock(&app, a).await, 97, "a refused order reserves nothing");
        let (s, _) = order(2).await;
        assert_eq!(s, 201);
        let (s, e) = order(1).await;
        assert_eq!((s.as_u16(), code(&e)), (409, "limit_exceeded"));
        // The cap is per user: someone else buys.
        let (other, _) = app.new_user().await;
        app.post(&format!("/api/rooms/{room}/cart/items"), &other, json!({"product_id": a, "count": 5})).await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/orders"), &other, json!({})).await;
        assert_eq!(s, 201);
        // Paying releases the hold.
        app.recharge(&buyer, 1).await;
        let oid = first["id"].as_i64().unwrap();
        let (s, _) = app.post(&format!("/api/orders/{oid}/pay"), &buyer, json!({})).await;
        assert_eq!(s, 200);
        let (s, _) = order(3).await;
        assert_eq!(s, 201);
        assert_eq!(held(&app, &buyer, a).await, 5);

        // Under concurrency: forty parallel orders of one unit each from one user.
        let b = app.approved_product(&anchor, 1, 100).await;
        let (racer, _) = app.new_user().await;
        let app = &app;
        let racer = &racer;
        let tries = (0..40).map(|_| async move {
            app.post(&format!("/api/rooms/{room}/cart/items"), racer, json!({"product_id": b, "count": 1})).await;
            app.post(&format!("/api/rooms/{room}/orders"), racer, json!({})).await
        });
        let res = futures_util::future::join_all(tries).await;
        let ok = res.iter().filter(|(s, _)| *s == 201).count() as i64;
        for (s, e) in &res {
            assert!(*s == 201 || (*s == 409 && matches!(code(e), "limit_exceeded" | "cart_empty")), "{s} {e}");
        }
        assert!((1..=5).contains(&ok), "{ok} parallel orders went through");
        assert_eq!(held(app, racer, b).await, ok, "{set:?}");
        assert_eq!(left_stock(app, b).await, 100 - ok, "nothing reserved for a refused order");
        // Orders that found the cart already taken (`cart_empty`) left room under the cap: one at
        // a time, the racer fills it and is then refused, so the cap is reached exactly.
        let mut total = ok;
        let mut refused = false;
        for _ in 0..10 {
            app.post(&format!("/api/rooms/{room}/cart/items"), racer, json!({"product_id": b, "count": 1})).await;
            let (s, e) = app.post(&format!("/api/rooms/{room}/orders"), racer, json!({})).await;
            match (s.as_u16(), code(&e)) {
                (201, _) => total += 1,
                (409, "limit_exceeded") => {
                    refused = true;
                    break;
                }
                other => panic!("{other:?} {e}"),
            }
        }
        assert!(refused, "the cap was reached");
        assert_eq!(total, 5, "exactly the cap is held");
        assert_eq!(held(app, racer, b).await, 5);
        assert_eq!(left_stock(app, b).await, 95);
    }
}

#[actix_web::test]
async fn a_cart_refuses_more_than_is_left_with_a_message_naming_the_product() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let product = app.approved_product(&anchor, 10, 3).await;
        let (buyer, _) = app.new_user().await;
        let path = format!("/api/rooms/{room}/cart/items");
        let (s, b) = app.post(&path, &buyer, json!({"product_id": product, "count": 4})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "sold_out"), "{b}");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("Lipstick") && msg.contains("only 3"), "{msg}");
        let (_, c) = app.get(&format!("/api/rooms/{room}/cart"), &buyer).await;
        assert_eq!(c["items"], json!([]), "the refused line is not in the cart");
        let (s, c) = app.post(&path, &buyer, json!({"product_id": product, "count": 3})).await;
        assert_eq!((s.as_u16(), c["total"].as_i64()), (200, Some(30)), "{c}");
        let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &buyer, json!({})).await;
        assert_eq!(s, 201, "{o}");
        // All three are reserved now: the next buyer hears it is sold out, by name.
        let (other, _) = app.new_user().await;
        let (s, b) = app.post(&path, &other, json!({"product_id": product, "count": 1})).await;
        assert_eq!((s.as_u16(), b["error"]["message"].as_str()), (409, Some("Lipstick is sold out")), "{b}");
    }
}

#[actix_web::test]
async fn an_anchor_sees_their_own_products_and_applications_as_they_stand_and_admins_see_names() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, aid) = app.new_user().await;
    let (s, _) =
        app.call(reqwest::Method::PATCH, "/api/me", Some(&anchor), Some(json!({"nickname": "Shop Anchor"}))).await;
    assert_eq!(s, 200);
    let approved = app.approved_product(&anchor, 10, 3).await;
    let (s, p) = app.post("/api/products", &anchor, json!({"name": "Mug", "price": 5, "stock": 2})).await;
    assert_eq!(s, 201);
    assert_eq!(p["anchor_nickname"], "Shop Anchor");
    let pending = p["id"].as_i64().unwrap();
    let (s, mine) = app.get("/api/products", &anchor).await;
    assert_eq!(s, 200, "{mine}");
    let states: Vec<(i64, &str)> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_i64().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![(pending, "pending"), (approved, "approved")]);
    let (_, only) = app.get("/api/products?status=approved", &anchor).await;
    assert_eq!(only["total"], 1);
    let (stranger, _) = app.new_user().await;
    let (_, theirs) = app.get("/api/products", &stranger).await;
    assert_eq!(theirs["total"], 0, "each anchor sees their own");
    let admin = app.admin().await;
    let (_, all) = app.get("/api/admin/products?status=pending", &admin).await;
    assert_eq!(all["items"][0]["anchor_nickname"], "Shop Anchor");
    assert_eq!(all["items"][0]["anchor_id"], aid);

    let (s, a) = app.post("/api/red-packet/applications", &anchor, json!({"total_coins": 100, "packets": 10})).await;
    assert_eq!(s, 201);
    let id = a["id"].as_i64().unwrap();
    let (_, mine) = app.get("/api/red-packet/applications", &anchor).await;
    assert_eq!((mine["total"].as_i64(), mine["items"][0]["status"].as_str()), (Some(1), Some("pending")));
    let (_, listed) = app.get("/api/admin/red-packet/applications?status=pending", &admin).await;
    assert_eq!(listed["items"][0]["anchor_nickname"], "Shop Anchor");
    let (s, _) = app.post(&format!("/api/admin/red-packet/applications/{id}/reject"), &admin, json!({})).await;
    assert_eq!(s, 200);
    let (_, mine) = app.get("/api/red-packet/applications", &anchor).await;
    assert_eq!(mine["items"][0]["status"], "rejected", "the anchor sees the real state");
    let (_, theirs) = app.get("/api/red-packet/applications", &stranger).await;
    assert_eq!(theirs["total"], 0);
}
