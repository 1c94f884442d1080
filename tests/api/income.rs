//! Anchor income (issue 15 items 4 and 5): a gift's or an order's coins go to the anchor who
//! received or sold, less the platform's share, in the same transaction as the buyer's debit,
//! so coins are conserved: what buyers lose is what anchors and the platform gain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::HashMap;

impl TestApp {
    /// Every earning of `token`'s user, newest first.
    pub async fn all_earnings(&self, token: &str) -> Vec<Value> {
        let mut v = vec![];
        for page in 1.. {
            let (s, b) = self.get(&format!("/api/wallet/earnings?page={page}&page_size=100"), token).await;
            assert_eq!(s, 200, "{b}");
            let items = b["items"].as_array().unwrap().clone();
            if items.is_empty() {
                break;
            }
            v.extend(items);
        }
        v
    }

    pub async fn income(&self, token: &str) -> i64 {
        self.get("/api/wallet", token).await.1["income"].as_i64().unwrap()
    }
}

fn n(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} in {v}"))
}

#[actix_web::test]
async fn concurrent_gifts_and_orders_credit_each_anchor_less_the_platform_share_and_conserve_coins() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (host, hid) = app.new_user().await;
        let (other, oid) = app.new_user().await;
        let room = app.open_room(&host, "normal").await;
        let room2 = app.open_room(&other, "normal").await;
        // An odd price: the platform's 50 % rounds down, the anchor keeps the odd coin.
        let product = app.approved_product(&host, 35, 1000).await;
        // 30 buyers with 60 coins each, each at once: two hearts in one room, one in the other,
        // three roses (an odd 3 coins), and an order of the product (35): 68 coins wanted, so
        // some writes are refused for the balance, and those must move nothing.
        let mut buyers = vec![];
        for _ in 0..30 {
            let (t, id) = app.new_user().await;
            assert_eq!(app.recharge(&t, 1).await, 60);
            let (s, c) = app
                .post(&format!("/api/rooms/{room}/cart/items"), &t, json!({"product_id": product, "count": 1}))
                .await;
            assert_eq!(s, 200, "{c}");
            let (s, o) = app.post(&format!("/api/rooms/{room}/orders"), &t, json!({})).await;
            assert_eq!(s, 201, "{o}");
            buyers.push((t, id, o["id"].as_i64().unwrap()));
        }
        let recharged = 60 * buyers.len() as i64;
        let app = &app;
        let mut calls = vec![];
        for (t, _, order) in &buyers {
            for (path, body) in [
                (format!("/api/rooms/{room}/gifts"), json!({"gift_id": 2})),
                (format!("/api/rooms/{room2}/gifts"), json!({"gift_id": 2})),
                (format!("/api/orders/{order}/pay"), json!({})),
                (format!("/api/rooms/{room}/gifts"), json!({"gift_id": 1, "count": 3})),
                (format!("/api/rooms/{room}/gifts"), json!({"gift_id": 2})),
            ] {
                calls.push(async move { app.post(&path, t, body).await });
            }
        }
        let answers = futures_util::future::join_all(calls).await;
        assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 402), "{answers:?}");
        assert!(answers.iter().any(|(s, _)| *s == 402), "some writes met an empty balance");

        // Row by row: the buyer's coins are the fee and the anchor's part; 50 % rounded down.
        let mut from_buyers: HashMap<i64, i64> = HashMap::new();
        let mut fees = 0;
        for (token, anchor) in [(&host, hid), (&other, oid)] {
            let earned = app.all_earnings(token).await;
            assert!(!earned.is_empty());
            for e in &earned {
                let (coins, fee, amount) = (n(e, "coins"), n(e, "fee"), n(e, "amount"));
                assert_eq!((fee, amount), (coins / 2, coins - coins / 2), "{e}");
                fees += fee;
                *from_buyers.entry(n(&e["from"], "id")).or_default() += coins;
            }
            let income = app.income(token).await;
            assert_eq!(income, earned.iter().map(|e| n(e, "amount")).sum::<i64>(), "anchor {anchor}");
            assert_eq!(income, earned.iter().map(|e| n(e, "income_after")).max().unwrap(), "anchor {anchor}");
            assert_eq!(app.balance(token).await, 0, "income is not spendable coins");
        }
        // Per buyer: what their gift and order trades took is what the anchors' rows say they paid.
        let mut balances = 0;
        for (t, id, _) in &buyers {
            let trades = app.all_trades(t).await;
            let spent: i64 = trades.iter().filter(|x| x["kind"] != "recharge").map(|x| -n(x, "amount")).sum();
            assert_eq!(spent, from_buyers.get(id).copied().unwrap_or(0), "buyer {id}");
            let balance = app.balance(t).await;
            assert!(balance >= 0);
            balances += balance;
        }
        // Conserved: recharged = left in wallets + anchors' incomes + the platform's fees.
        let incomes = app.income(&host).await + app.income(&other).await;
        assert_eq!(balances + incomes + fees, recharged);
    }
}

#[actix_web::test]
async fn earnings_and_trades_name_the_gift_the_sender_and_the_order() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.wallet.platform_share_pct = 20).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let product = app.approved_product(&anchor, 30, 5).await;
        let (fan, fan_id) = app.new_user().await;
        let (s, _) =
            app.call(reqwest::Method::PATCH, "/api/me", Some(&fan), Some(json!({"nickname": "Big Fan"}))).await;
        assert_eq!(s, 200);
        app.recharge(&fan, 2).await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 3, "count": 2})).await;
        assert_eq!(s, 200, "{b}");
        app.post(&format!("/api/rooms/{room}/cart/items"), &fan, json!({"product_id": product, "count": 1})).await;
        let (_, o) = app.post(&format!("/api/rooms/{room}/orders"), &fan, json!({})).await;
        let order = o["id"].as_i64().unwrap();
        let (s, b) = app.post(&format!("/api/orders/{order}/pay"), &fan, json!({})).await;
        assert_eq!(s, 200, "{b}");

        let earned = app.all_earnings(&anchor).await;
        assert_eq!(earned.len(), 2, "{earned:?}");
        let (paid, gift) = (&earned[0], &earned[1]);
        assert_eq!(gift["kind"], "gift");
        assert_eq!(gift["title"], "Lollipop ×2");
        assert_eq!(gift["from"], json!({"id": fan_id, "nickname": "Big Fan"}));
        assert_eq!(gift["room_id"], room);
        assert_eq!((n(gift, "coins"), n(gift, "fee"), n(gift, "amount")), (40, 8, 32));
        assert_eq!(paid["kind"], "order");
        assert_eq!(paid["title"], format!("Order #{order}: Lipstick ×1"));
        assert_eq!((n(paid, "coins"), n(paid, "fee"), n(paid, "amount")), (30, 6, 24));
        assert_eq!(n(paid, "income_after"), 56);
        assert_eq!(app.get("/api/wallet", &anchor).await.1, json!({"balance": 0, "income": 56}));

        let notes: Vec<Value> = app.all_trades(&fan).await.iter().map(|t| t["note"].clone()).collect();
        assert_eq!(
            notes,
            vec![
                json!(format!("Order #{order}: Lipstick ×1")),
                json!("Gift sent: Lollipop ×2"),
                json!("Recharge: 300 coins")
            ]
        );
        // The fan earns nothing; their wallet says so.
        assert_eq!(app.get("/api/wallet", &fan).await.1, json!({"balance": 300 - 40 - 30, "income": 0}));
    }
}

/// Two anchors who send gifts into each other's rooms at once, among their fans: each is a payer
/// in some batches and a payee in others. A batch locks its payers' and payees' wallets in one
/// statement in user order, so a batch in which anchor A pays B and one in which B pays A never
/// wait for each other in a circle (on Postgres and MariaDB a deadlock would answer 500 here).
/// Each anchor's income is credited one gift at a time: sorted by `income_after`, every earning
/// adds its amount to the one before.
#[actix_web::test]
async fn anchors_gifting_each_other_at_once_never_deadlock_and_each_credit_follows_the_last() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (a, _) = app.new_user().await;
        let (b, _) = app.new_user().await;
        let room_a = app.open_room(&a, "normal").await;
        let room_b = app.open_room(&b, "normal").await;
        let mut fans = vec![];
        for _ in 0..10 {
            let (t, _) = app.new_user().await;
            app.recharge(&t, 1).await;
            fans.push(t);
        }
        app.recharge(&a, 1).await;
        app.recharge(&b, 1).await;
        let app = &app;
        let mut calls = vec![];
        for i in 0..30 {
            // A into B's room and B into A's, interleaved with the fans into both.
            calls.push((format!("/api/rooms/{room_b}/gifts"), &a));
            calls.push((format!("/api/rooms/{room_a}/gifts"), &b));
            let fan = &fans[i % fans.len()];
            calls.push((format!("/api/rooms/{}/gifts", if i % 2 == 0 { room_a } else { room_b }), fan));
        }
        let answers = futures_util::future::join_all(
            calls.iter().map(|(path, t)| async move { app.post(path, t, json!({"gift_id": 1})).await }),
        )
        .await;
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
        for (token, spent) in [(&a, 30), (&b, 30)] {
            assert_eq!(app.balance(token).await, 60 - spent);
            let mut earned = app.all_earnings(token).await;
            assert_eq!(earned.len(), 30 + 15, "30 roses from the other anchor, 15 from fans");
            earned.sort_by_key(|e| n(e, "income_after"));
            let mut income = 0;
            for e in &earned {
                income += n(e, "amount");
                assert_eq!(n(e, "income_after"), income, "{e}");
            }
            assert_eq!(app.income(token).await, income);
        }
    }
}
