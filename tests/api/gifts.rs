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
