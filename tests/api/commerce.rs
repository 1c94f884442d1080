//! Live commerce: products, carts, orders that reserve stock, pay and expiry racing.

use crate::helpers::*;
use serde_json::json;
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
        let (_, c) =
            app.post(&format!("/api/rooms/{room}/cart/items"), &buyer, json!({"product_id": b, "count": 2})).await;
        assert_eq!(c["total"], 20 * 2 + 50 * 2);
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
        // b has 1 left, the cart wants 2: a is reserved, b stays in the cart.
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
        let (other, _) = app.new_user().await;
        let (s, _) = app.get(&format!("/api/orders/{oid}"), &other).await;
        assert_eq!(s, 404);
        let (_, mine) = app.get("/api/orders?status=paid", &buyer).await;
        assert_eq!(mine["total"], 1);
        // a is sold out now: a cart of only a gets sold_out.
        let (s, _) = app.delete(&format!("/api/rooms/{room}/cart/items/{b}"), &buyer).await;
        assert_eq!(s, 200);
        app.post(&format!("/api/rooms/{room}/cart/items"), &other, json!({"product_id": a, "count": 1})).await;
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
        use liveroom::storage::entities::{orders, products};
        use sea_orm::EntityTrait;
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
