//! What a gift reads before its write: the catalogue and the sender's nickname from in-process
//! caches, a running room's liveness and anchor from its actor. These tests show the answers
//! did not change with it: a rename is seen at once, a closed room refuses, an unknown gift is
//! 404, the catalogue reads the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn a_gift_after_a_rename_shows_the_new_nickname_in_the_rooms_gift_frame() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, fid) = app.new_user().await;
        app.recharge(&fan, 1).await;
        let (mut a, _) = app.join(room, &anchor).await;
        let path = format!("/api/rooms/{room}/gifts");
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 2})).await;
        assert_eq!(s, 200, "{b}");
        let before = a.expect("gift").await["data"]["from"]["nickname"].as_str().unwrap().to_owned();
        assert_ne!(before, "Renamed Fan");
        let (s, b) = app.call(Method::PATCH, "/api/me", Some(&fan), Some(json!({"nickname": "Renamed Fan"}))).await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 2})).await;
        assert_eq!(s, 200, "{b}");
        let g = a.expect("gift").await;
        assert_eq!(
            (g["data"]["from"]["id"].as_i64(), g["data"]["from"]["nickname"].as_str()),
            (Some(fid), Some("Renamed Fan"))
        );
        let (_, r) = app.get(&format!("/api/rooms/{room}/ranking"), &anchor).await;
        assert_eq!(r, json!([{"user": {"id": fid, "nickname": "Renamed Fan"}, "coins": 20}]));
    }
}

#[actix_web::test]
async fn a_gift_into_a_room_closed_while_its_actor_ran_is_refused_409_and_debits_nothing() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 1).await;
        let (_v, _) = app.join(room, &fan).await;
        let path = format!("/api/rooms/{room}/gifts");
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 2})).await;
        assert_eq!(s, 200, "{b}");
        assert!(app.state.rooms.get(room).is_some(), "the room's actor runs");
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204);
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 2})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "room_closed"));
        assert_eq!(app.balance(&fan).await, 50);
        assert!(app.state.rooms.get(room).is_none(), "the refused gift started no actor");
    }
}

#[actix_web::test]
async fn a_gift_while_a_close_is_under_way_is_refused_although_the_actor_still_runs() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 1).await;
        // The close's first steps: the row is closed, then the room is marked closing; its PK
        // and rain are still ending, so the actor has not been told yet.
        let row = liveroom::storage::rooms::find(&app.state.b.db, room).await.unwrap().unwrap();
        assert!(liveroom::storage::rooms::close(&app.state.b.db, &row).await.unwrap());
        app.state.rooms.closing(room);
        assert!(app.state.rooms.get(room).is_some(), "the actor still runs");
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 2})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "room_closed"));
        assert_eq!(app.balance(&fan).await, 60);
    }
}

#[actix_web::test]
async fn gifts_racing_a_close_are_each_paid_and_shown_or_refused_and_none_is_taken_after_it() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 2).await; // 300 coins: 30 Hearts
        let (_v, _) = app.join(room, &fan).await;
        let path = format!("/api/rooms/{room}/gifts");
        let gifts = (0..20).map(|i| {
            let (app, fan, path) = (&app, &fan, &path);
            async move {
                tokio::time::sleep(Duration::from_millis(i * 3)).await;
                let (s, b) = app.post(path, fan, json!({"gift_id": 2})).await;
                (s.as_u16(), code(&b).to_owned())
            }
        });
        let close = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            app.delete(&format!("/api/rooms/{room}"), &anchor).await.0
        };
        let (answers, closed) = futures_util::future::join(futures_util::future::join_all(gifts), close).await;
        assert_eq!(closed, 204);
        assert!(answers.iter().all(|(s, c)| *s == 200 || (*s, c.as_str()) == (409, "room_closed")), "{answers:?}");
        let paid = answers.iter().filter(|(s, _)| *s == 200).count() as i64;
        let trades = app.all_trades(&fan).await.iter().filter(|t| t["kind"] == "gift").count() as i64;
        assert_eq!((trades, app.balance(&fan).await), (paid, 300 - 10 * paid), "each 200 paid once, each 409 nothing");
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 2})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "room_closed"), "none is taken after the close answered");
    }
}

#[actix_web::test]
async fn an_unknown_gift_is_404_whether_or_not_the_rooms_actor_was_running() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 1).await;
        let path = format!("/api/rooms/{room}/gifts");
        assert!(app.state.rooms.get(room).is_some());
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 999})).await;
        assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
        // The same storage on a new node: the room is live, no actor runs there yet.
        app.stop().await;
        let second = spawn_on(&app.storage, |_| {}).await;
        assert!(second.state.rooms.get(room).is_none());
        let (s, b) = second.post(&path, &fan, json!({"gift_id": 999})).await;
        assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
        let (s, b) = second.post(&path, &fan, json!({"gift_id": 2})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(second.balance(&fan).await, 50, "refusals debit nothing");
    }
}

#[actix_web::test]
async fn the_gift_catalogue_reads_as_the_table_sorted_by_price_and_gifts_carry_its_entries() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let rows = liveroom::storage::gifts::catalogue(&app.state.b.db).await.unwrap();
        let table: Vec<Value> =
            rows.iter().map(|g| json!({"id": g.id, "name": g.name, "price": g.price, "effect": g.effect})).collect();
        assert!(table.len() >= 2);
        for _ in 0..2 {
            let (s, list) = app.call(Method::GET, "/api/gifts", None, None).await;
            assert_eq!(s, 200);
            assert_eq!(list, Value::Array(table.clone()));
        }
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 2).await;
        let (mut a, _) = app.join(room, &anchor).await;
        let cheapest = &rows[0];
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": cheapest.id})).await;
        assert_eq!(s, 200, "{b}");
        let g = a.expect("gift").await;
        assert_eq!(g["data"]["gift"], table[0]);
        assert_eq!(app.balance(&fan).await, 300 - cheapest.price);
    }
}

/// The gifts in a `gift` or `gifts` frame, each as a `gift` frame's data; empty for any other.
fn gifts_in(f: &serde_json::Value) -> Vec<serde_json::Value> {
    match f["type"].as_str() {
        Some("gift") => vec![f["data"].clone()],
        Some("gifts") => f["data"]["gifts"].as_array().cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Gifts that come faster than a busy room's gift window wait for its end and go together,
/// one `gifts` frame a window, a sender's gifts of one kind to one anchor merged: the counts
/// and `sends` add up to exactly what was paid, seqs stay gapless, and every held gift shows
/// before `room_closed`.
#[actix_web::test]
async fn a_busy_rooms_gifts_go_a_window_at_a_time_merged_per_sender_and_add_up_before_the_close() {
    use liveroom::actors::room::{Close, GiftEffect};
    use liveroom::domain::events::{GiftItem, GiftSent};
    use liveroom::domain::user::UserRef;
    use std::collections::HashMap;

    for set in backend_sets() {
        // A gift window in a room of any size (100 viewers by default).
        let app = spawn_app_with(set, |s| s.room.gift_combo_min_viewers = 0).await;
        let (anchor, aid) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (mut a, _) = app.join(room, &anchor).await;
        let addr = app.state.rooms.get(room).unwrap();
        let gift = |from: i64, id: i64, count: i64, at: &str| GiftEffect {
            coins: count,
            gift: GiftSent {
                at: at.into(),
                count,
                first_at: None,
                from: UserRef { id: from, nickname: format!("fan {from}") },
                gift: GiftItem { effect: "e".into(), id, name: "g".into(), price: 1 },
                sends: 1,
                to: aid,
            },
        };
        // 30 roses from fan 1 (counts 1..=30), 10 hearts from fan 2, 5 roses from fan 3, all
        // in the room's mailbox at once: the first goes alone, the rest in one window.
        let mut paid: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
        let mut pay = |from: i64, id: i64, count: i64, at: String| {
            addr.do_send(gift(from, id, count, &at));
            let e = paid.entry((from, id)).or_default();
            (e.0, e.1) = (e.0 + count, e.1 + 1);
        };
        for i in 1..=30 {
            pay(1, 1, i, format!("2026-11-30T00:00:00.{i:03}Z"));
            if i % 3 == 0 {
                pay(2, 2, 1, "2026-11-30T00:00:01.000Z".into());
            }
        }
        for _ in 0..5 {
            pay(3, 1, 1, "2026-11-30T00:00:02.000Z".into());
        }
        addr.do_send(Close);
        let (mut seen, mut frames, mut last_seq) = (HashMap::<(i64, i64), (i64, i64)>::new(), Vec::new(), 0);
        loop {
            let f = match a.next(Duration::from_secs(10)).await {
                crate::ws_client::Got::Frame(f) => f,
                other => panic!("room_closed never came: {other:?}"),
            };
            if let Some(seq) = f["seq"].as_u64() {
                assert_eq!(seq, last_seq + 1, "gapless: {f}");
                last_seq = seq;
            }
            if f["type"] == "room_closed" {
                break;
            }
            let gifts = gifts_in(&f);
            if gifts.is_empty() {
                continue;
            }
            let mut senders = std::collections::HashSet::new();
            for d in &gifts {
                let sends = d["sends"].as_i64().unwrap_or(1);
                assert_eq!(d["sends"].is_null(), d["first_at"].is_null(), "both only on a merged gift: {d}");
                if sends > 1 {
                    assert!(d["first_at"].as_str().unwrap() <= d["at"].as_str().unwrap(), "{d}");
                }
                let k = (d["from"]["id"].as_i64().unwrap(), d["gift"]["id"].as_i64().unwrap());
                assert!(senders.insert(k), "a sender's gifts of one kind are one in a frame: {f}");
                let e = seen.entry(k).or_default();
                (e.0, e.1) = (e.0 + d["count"].as_i64().unwrap(), e.1 + sends);
            }
            frames.push((f["type"].as_str().unwrap().to_owned(), gifts.len()));
        }
        assert_eq!(seen, paid, "every paid gift shows once, before room_closed");
        // The first gift is never held: a `gift` frame of its own; the rest came together.
        assert_eq!(frames[0], ("gift".to_owned(), 1), "{frames:?}");
        assert!(frames.len() <= 3, "45 gifts in one window go in few frames: {frames:?}");
        assert!(frames.iter().any(|(t, n)| t == "gifts" && *n >= 2), "{frames:?}");
        let (_, r) = app.get(&format!("/api/rooms/{room}/ranking"), &anchor).await;
        assert_eq!(r.as_array().map(Vec::len), Some(3), "the ranking counted every gift: {r}");
    }
}

/// Over HTTP, concurrent gifts from one fan: whatever merged, the frames add up to what the
/// wallet paid, and the fan's single gift after a quiet moment comes alone and at once. In a
/// room under `room.gift_combo_min_viewers` every gift is a `gift` frame of its own.
#[actix_web::test]
async fn concurrent_paid_gifts_add_up_in_the_frames_and_a_lone_gift_is_not_held() {
    for (set, min_viewers) in backend_sets().into_iter().flat_map(|s| [(s, 0), (s, 100)]) {
        let app = spawn_app_with(set, |s| s.room.gift_combo_min_viewers = min_viewers).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (fan, fid) = app.new_user().await;
        app.recharge(&fan, 1).await;
        let before = app.balance(&fan).await;
        let (mut a, _) = app.join(room, &anchor).await;
        let path = format!("/api/rooms/{room}/gifts");
        let sends = (0..20).map(|_| app.post(&path, &fan, json!({"gift_id": 1})));
        for (s, b) in futures_util::future::join_all(sends).await {
            assert_eq!(s, 200, "{b}");
        }
        let (mut count, mut sends, mut frames) = (0, 0, 0);
        while count < 20 {
            let f = match a.next(Duration::from_secs(10)).await {
                crate::ws_client::Got::Frame(f) => f,
                other => panic!("the gifts never came: {other:?}"),
            };
            let gifts = gifts_in(&f);
            if gifts.is_empty() {
                continue;
            }
            assert!(min_viewers == 0 || f["type"] == "gift", "a small room sees `gift` frames: {f}");
            for g in gifts {
                assert_eq!(g["from"]["id"], fid);
                count += g["count"].as_i64().unwrap();
                sends += g["sends"].as_i64().unwrap_or(1);
            }
            frames += 1;
        }
        assert_eq!((count, sends), (20, 20));
        if min_viewers > 0 {
            assert_eq!(frames, 20, "a small room sees a frame per gift");
        }
        assert_eq!(app.balance(&fan).await, before - 20, "a rose is a coin");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (s, b) = app.post(&path, &fan, json!({"gift_id": 1, "count": 5})).await;
        assert_eq!(s, 200, "{b}");
        let g = a.expect("gift").await;
        assert_eq!((g["data"]["count"].as_i64(), g["data"]["sends"].is_null()), (Some(5), true), "{g}");
    }
}
