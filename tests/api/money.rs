//! Wallet, recharges, the payment callback and gifts: money never lost or doubled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use serde_json::{json, Value};

impl TestApp {
    /// Recharges product `p` (1: 60 coins, 2: 300 coins) for `token`; returns the balance.
    pub async fn recharge(&self, token: &str, product: i64) -> i64 {
        let (s, b) = self.post("/api/wallet/recharges", token, json!({"product_id": product})).await;
        assert_eq!(s, 201, "{b}");
        b["balance"].as_i64().unwrap()
    }

    pub async fn balance(&self, token: &str) -> i64 {
        self.get("/api/wallet", token).await.1["balance"].as_i64().unwrap()
    }

    /// Every trade of `token`'s user.
    pub async fn all_trades(&self, token: &str) -> Vec<Value> {
        let mut v = vec![];
        for page in 1.. {
            let (_, b) = self.get(&format!("/api/wallet/trades?page={page}&page_size=100"), token).await;
            let items = b["items"].as_array().unwrap().clone();
            if items.is_empty() {
                break;
            }
            v.extend(items);
        }
        v
    }
}

#[actix_web::test]
async fn a_recharge_credits_and_shows_in_trades() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, _) = app.new_user().await;
        let (s, products) = app.get("/api/wallet/products", &t).await;
        assert_eq!(s, 200);
        assert!(products.as_array().unwrap().len() >= 3);
        assert!(products[0]["coins"].as_i64().is_some() && products[0]["price_cents"].as_i64().is_some());
        assert_eq!(app.balance(&t).await, 0);
        let (s, b) = app.post("/api/wallet/recharges", &t, json!({"product_id": 2})).await;
        assert_eq!(s, 201);
        assert_eq!(
            (b["coins"].as_i64(), b["balance"].as_i64(), b["status"].as_str()),
            (Some(300), Some(300), Some("paid"))
        );
        assert!(b["recharge_id"].as_i64().is_some());
        let trades = app.all_trades(&t).await;
        assert_eq!(trades.len(), 1);
        assert_eq!(
            (trades[0]["kind"].as_str(), trades[0]["amount"].as_i64(), trades[0]["balance_after"].as_i64()),
            (Some("recharge"), Some(300), Some(300))
        );
        let (s, b) = app.post("/api/wallet/recharges", &t, json!({"product_id": 999})).await;
        assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
        let (s, b) = app.post("/api/wallet/recharges", &t, json!({"product_id": "x"})).await;
        assert_eq!((s.as_u16(), b["error"]["field"].as_str()), (400, Some("product_id")));
    }
}

#[actix_web::test]
async fn the_same_idempotency_key_twenty_times_at_once_credits_once() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, _) = app.new_user().await;
        let send = || {
            app.http
                .post(format!("{}/api/wallet/recharges", app.addr))
                .bearer_auth(&t)
                .header("Idempotency-Key", "buy-once-123")
                .json(&json!({"product_id": 1}))
                .send()
        };
        let res = futures_util::future::join_all((0..20).map(|_| send())).await;
        let mut bodies = vec![];
        for r in res {
            let r = r.unwrap();
            assert_eq!(r.status(), 201);
            bodies.push(r.json::<Value>().await.unwrap());
        }
        assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
        assert_eq!(bodies[0]["balance"], 60);
        assert_eq!(app.balance(&t).await, 60);
        assert_eq!(app.all_trades(&t).await.len(), 1);
    }
}

#[actix_web::test]
async fn a_signed_notify_credits_once_and_a_bad_signature_nothing() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.payments.provider = "external".into()).await;
        let (t, _) = app.new_user().await;
        let (s, b) = app.post("/api/wallet/recharges", &t, json!({"product_id": 2})).await;
        assert_eq!((s.as_u16(), b["status"].as_str(), b["balance"].as_i64()), (201, Some("pending"), Some(0)));
        let rid = b["recharge_id"].as_i64().unwrap();
        let body = json!({"recharge_id": rid, "status": "paid"}).to_string();
        let notify = |sig: String, body: String| {
            app.http
                .post(format!("{}/api/payments/notify", app.addr))
                .header("X-Signature", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let r = notify("00".repeat(32), body.clone()).await.unwrap();
        assert_eq!(r.status(), 401);
        let r = notify(liveroom::http::wallet::sign("wrong-secret", body.as_bytes()), body.clone()).await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(app.balance(&t).await, 0);
        let good = liveroom::http::wallet::sign("dev-notify-secret", body.as_bytes());
        let r = notify(good.clone(), body.clone()).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(app.balance(&t).await, 300);
        for _ in 0..3 {
            let r = notify(good.clone(), body.clone()).await.unwrap();
            assert_eq!(r.status(), 200, "a replay answers 200");
        }
        assert_eq!(app.balance(&t).await, 300, "a replay credits nothing");
    }
}

#[actix_web::test]
async fn concurrent_gifts_never_overdraw_and_trades_add_up() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        // 200 users with 60 coins each: exactly 6 hearts (10 coins) each.
        let mut users = vec![];
        for _ in 0..200 {
            let (t, _) = app.new_user().await;
            assert_eq!(app.recharge(&t, 1).await, 60);
            users.push(t);
        }
        let k = 6;
        let app = &app;
        let path = format!("/api/rooms/{room}/gifts");
        let path = &path;
        let sends = users
            .iter()
            .flat_map(|t| (0..=k).map(move |_| async move { app.post(path, t, json!({"gift_id": 2})).await }));
        let res = futures_util::future::join_all(sends).await;
        for (i, t) in users.iter().enumerate() {
            let mine = &res[i * (k + 1)..(i + 1) * (k + 1)];
            let ok = mine.iter().filter(|(s, _)| *s == 200).count();
            let short = mine.iter().filter(|(s, b)| *s == 402 && code(b) == "insufficient_balance").count();
            assert_eq!((ok, short), (k, 1), "user {i}: {mine:?}");
            assert_eq!(app.balance(t).await, 0);
            let trades = app.all_trades(t).await;
            assert_eq!(
                trades.iter().map(|t| t["amount"].as_i64().unwrap()).sum::<i64>(),
                0,
                "trades sum to the balance"
            );
            assert!(trades.iter().all(|t| t["balance_after"].as_i64().unwrap() >= 0));
        }
        let (s, ranking) = app.get(&format!("/api/rooms/{room}/ranking"), &anchor).await;
        assert_eq!(s, 200);
        assert_eq!(ranking.as_array().unwrap().len(), 20);
        assert!(ranking.as_array().unwrap().iter().all(|r| r["coins"] == 60));
    }
}

#[actix_web::test]
async fn a_gift_is_seen_by_everyone_and_refusals_debit_nothing() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, aid) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, vid) = app.new_user().await;
        let (s, gifts) = app.call(reqwest::Method::GET, "/api/gifts", None, None).await;
        assert_eq!(s, 200);
        assert!(gifts
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["id"].is_i64() && g["price"].is_i64() && g["effect"].is_string()));
        let (mut a, _) = app.join(room, &anchor).await;
        let (mut v, _) = app.join(room, &viewer).await;
        // Short: 402 and a gift_failed notice; nothing debited.
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &viewer, json!({"gift_id": 2})).await;
        assert_eq!((s.as_u16(), code(&b)), (402, "insufficient_balance"));
        assert_eq!(v.expect("notice").await["data"]["kind"], "gift_failed");
        app.recharge(&viewer, 1).await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &viewer, json!({"gift_id": 2, "count": 3})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["balance"], 30);
        assert!(b["trade_id"].as_i64().is_some());
        for ws in [&mut a, &mut v] {
            let g = ws.expect("gift").await;
            assert!(g["seq"].as_u64().is_some());
            assert_eq!(g["data"]["from"]["id"], vid);
            assert_eq!(g["data"]["to"], aid);
            assert_eq!(g["data"]["count"], 3);
            assert_eq!(g["data"]["gift"]["price"], 10);
            assert_eq!(g["data"]["gift"]["name"], "Heart");
        }
        for (body, st, c) in [
            (json!({"gift_id": 999}), 404, "not_found"),
            (json!({"gift_id": 2, "count": 0}), 400, "invalid_input"),
            (json!({"gift_id": 2, "count": 100}), 400, "invalid_input"),
            (json!({"gift_id": 2, "to": vid}), 400, "invalid_input"),
            (json!({"gift_id": "rose"}), 400, "invalid_input"),
        ] {
            let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &viewer, body.clone()).await;
            assert_eq!((s.as_u16(), code(&b)), (st, c), "{body}");
        }
        assert_eq!(app.balance(&viewer).await, 30, "refusals debit nothing");
        let (_, r) = app.get(&format!("/api/rooms/{room}/ranking"), &anchor).await;
        assert_eq!(r, json!([{"user": {"id": vid, "nickname": r[0]["user"]["nickname"]}, "coins": 30}]));
        app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &viewer, json!({"gift_id": 2})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "room_closed"));
        assert_eq!(app.balance(&viewer).await, 30);
    }
}

#[actix_web::test]
async fn hole01_production_refuses_the_dev_payment_and_sms_providers() {
    use liveroom::settings::Settings;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let secret = ("payments.notify_secret", "a-real-secret");
    let prod = Settings::load_with(&dir, "production", &[secret]).expect("production loads with a secret");
    assert_eq!(prod.payments.provider, "external", "the production overlay waits for the payment provider");
    assert_eq!(prod.auth.sms_provider, "none");
    for (key, value) in [("payments.provider", "dev"), ("auth.sms_provider", "dev")] {
        let e = Settings::load_with(&dir, "production", &[secret, (key, value)]).expect_err(key).to_string();
        assert!(e.contains(key) && e.contains("production"), "the error names the key: {e}");
        // An environment without its own overlay file is not dev either.
        let safe = [secret, ("payments.provider", "external"), ("auth.sms_provider", "none")];
        let e =
            Settings::load_with(&dir, "staging", &[&safe[..], &[(key, value)]].concat()).expect_err(key).to_string();
        assert!(e.contains(key), "{e}");
    }
    for env in ["dev", "test"] {
        let s = Settings::load_with(&dir, env, &[]).expect("dev settings load");
        assert_eq!((s.payments.provider.as_str(), s.auth.sms_provider.as_str()), ("dev", "dev"));
    }
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.env = "production".into();
            s.payments.provider = "external".into();
            s.auth.sms_provider = "none".into();
        })
        .await;
        // Start-up refuses settings changed after loading too.
        for (key, tweak) in [
            ("payments.provider", (|s: &mut Settings| s.payments.provider = "dev".into()) as fn(&mut Settings)),
            ("auth.sms_provider", |s: &mut Settings| s.auth.sms_provider = "dev".into()),
        ] {
            let mut s = app.storage.settings();
            s.env = "production".into();
            s.payments.provider = "external".into();
            s.auth.sms_provider = "none".into();
            tweak(&mut s);
            // The running app holds the embedded key-value file; this refused start needs its own.
            s.kv.path = ":memory:".into();
            let backends = liveroom::storage::Backends::connect(&s).await.unwrap();
            let e = liveroom::startup::Application::build_with(s, backends).await.err().expect("start-up refuses");
            assert!(e.to_string().contains(key), "{e}");
        }
        // The running production app gives neither codes nor coins away.
        let (s, b) =
            app.call(reqwest::Method::POST, "/api/auth/sms", None, Some(json!({"phone": "13800000011"}))).await;
        assert_eq!(s, 503, "{b}");
        assert!(b.get("dev_code").is_none());
        let phone = liveroom::domain::user::Phone::parse("13800000011").unwrap();
        let user = liveroom::storage::users::find_or_create(&app.state.b.db, &app.state.b.ids, &phone).await.unwrap();
        let token = liveroom::http::session::new_token();
        let key = liveroom::http::session::session_key(&liveroom::http::session::token_hash(&token));
        app.state.b.kv.set(&key, &format!("{}:{}", user.id, user.phone), None).await.unwrap();
        let (s, b) = app.post("/api/wallet/recharges", &token, json!({"product_id": 2})).await;
        assert_eq!((s.as_u16(), b["status"].as_str(), b["balance"].as_i64()), (201, Some("pending"), Some(0)), "{b}");
        assert_eq!(app.balance(&token).await, 0);
    }
}

/// A recharge row stored as the handler's first step stores it, as if the process then died.
async fn crashed_recharge(app: &TestApp, user_id: i64, key: &str) -> i64 {
    use liveroom::http::wallet::IdempotencyKey;
    use liveroom::storage::recharges;
    let db = &app.state.b.db;
    let product = recharges::product(db, 1).await.unwrap().unwrap();
    let id = app.state.b.ids.next("recharge").await.unwrap();
    let digest = IdempotencyKey::parse(key).unwrap().digest();
    recharges::insert(db, id, user_id, &product, &digest).await.unwrap();
    id
}

/// POSTs `path` with an Idempotency-Key header (raw bytes); status and body.
async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &[u8], body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.addr))
        .bearer_auth(token)
        .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(key).unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn hole06_a_recharge_left_pending_by_a_crash_is_completed_by_its_retry() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, uid) = app.new_user().await;
        let id = crashed_recharge(&app, uid, "crashed-before-credit").await;
        assert_eq!(app.balance(&t).await, 0);
        // Twenty retries at once: one credit, one answer.
        let retries = (0..20).map(|_| {
            post_with_key(&app, "/api/wallet/recharges", &t, b"crashed-before-credit", json!({"product_id": 1}))
        });
        let res = futures_util::future::join_all(retries).await;
        for r in &res {
            assert_eq!(r, &(201, json!({"recharge_id": id, "coins": 60, "balance": 60, "status": "paid"})));
        }
        assert_eq!(app.balance(&t).await, 60);
        assert_eq!(app.all_trades(&t).await.len(), 1);
        // A retry later still answers the same and credits nothing.
        let again =
            post_with_key(&app, "/api/wallet/recharges", &t, b"crashed-before-credit", json!({"product_id": 1})).await;
        assert_eq!(again, res[0]);
        assert_eq!(app.balance(&t).await, 60);
    }
}

#[actix_web::test]
async fn hole07_a_gift_retried_with_its_idempotency_key_is_charged_once() {
    use liveroom::storage::entities::gift_sends;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        let (other, _) = app.new_user().await;
        app.recharge(&fan, 1).await;
        app.recharge(&other, 1).await;
        let path = format!("/api/rooms/{room}/gifts");
        // A heart is 10 coins: twenty retries at once pay for one.
        let retries = (0..20).map(|_| post_with_key(&app, &path, &fan, b"gift-retry-1", json!({"gift_id": 2})));
        let res = futures_util::future::join_all(retries).await;
        assert_eq!(res[0].0, 200, "{:?}", res[0]);
        assert_eq!(res[0].1["balance"], 50);
        assert!(res.iter().all(|r| r == &res[0]), "{res:?}");
        assert_eq!(app.balance(&fan).await, 50);
        // Later, the same answer and no charge.
        assert_eq!(post_with_key(&app, &path, &fan, b"gift-retry-1", json!({"gift_id": 2})).await, res[0]);
        // Another key, another gift; the same key from another user is that user's own.
        let second = post_with_key(&app, &path, &fan, b"gift-retry-2", json!({"gift_id": 2})).await;
        assert_eq!((second.0, second.1["balance"].as_i64()), (200, Some(40)));
        assert_ne!(second.1["trade_id"], res[0].1["trade_id"]);
        let theirs = post_with_key(&app, &path, &other, b"gift-retry-1", json!({"gift_id": 2})).await;
        assert_eq!((theirs.0, theirs.1["balance"].as_i64()), (200, Some(50)));
        // Without a key every request is a gift.
        for b in [30, 20] {
            let (s, v) = app.post(&path, &fan, json!({"gift_id": 2})).await;
            assert_eq!((s.as_u16(), v["balance"].as_i64()), (200, Some(b)));
        }
        let gifts_trades = app.all_trades(&fan).await.iter().filter(|t| t["kind"] == "gift").count();
        assert_eq!(gifts_trades, 4);
        let sent = gift_sends::Entity::find()
            .filter(gift_sends::Column::RoomId.eq(room))
            .count(&app.state.b.db)
            .await
            .unwrap();
        assert_eq!(sent, 5, "each charged gift is recorded (and shown) once");
    }
}

#[actix_web::test]
async fn hole08_idempotency_keys_up_to_100_characters_work_and_longer_ones_get_400() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (t, _) = app.new_user().await;
        let mut balance = 0;
        for len in [1usize, 64, 98, 99, 100] {
            let key = format!("{len}-{}", "x".repeat(len)).into_bytes()[..len].to_vec();
            let first = post_with_key(&app, "/api/wallet/recharges", &t, &key, json!({"product_id": 1})).await;
            balance += 60;
            assert_eq!((first.0, first.1["balance"].as_i64()), (201, Some(balance)), "key of {len}: {:?}", first.1);
            let again = post_with_key(&app, "/api/wallet/recharges", &t, &key, json!({"product_id": 1})).await;
            assert_eq!(again, first, "key of {len}");
            let path = format!("/api/rooms/{room}/gifts");
            let gift = post_with_key(&app, &path, &t, &key, json!({"gift_id": 2})).await;
            balance -= 10;
            assert_eq!((gift.0, gift.1["balance"].as_i64()), (200, Some(balance)), "gift key of {len}: {:?}", gift.1);
            assert_eq!(post_with_key(&app, &path, &t, &key, json!({"gift_id": 2})).await, gift);
        }
        let long = "y".repeat(101);
        for bad in [long.as_bytes(), b"", b"two words", "ключ".as_bytes(), b"tab\there"] {
            for (path, body) in [
                ("/api/wallet/recharges".to_owned(), json!({"product_id": 1})),
                (format!("/api/rooms/{room}/gifts"), json!({"gift_id": 2})),
            ] {
                let (s, b) = post_with_key(&app, &path, &t, bad, body).await;
                let shown = String::from_utf8_lossy(bad);
                assert_eq!((s, code(&b)), (400, "invalid_input"), "{path} {shown:?}: {b}");
                assert_eq!(b["error"]["field"], "Idempotency-Key", "{path} {shown:?}");
            }
        }
        assert_eq!(app.balance(&t).await, balance, "a refused key charges and credits nothing");
    }
}
