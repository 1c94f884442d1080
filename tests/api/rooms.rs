//! Rooms over HTTP: open, list, get, close, tickets, moderation endpoints' rules.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn an_anchor_opens_one_live_room_and_closes_it() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, uid) = app.new_user().await;
        let (s, r) = app.post("/api/rooms", &t, json!({"title": "  Evening show ", "kind": "normal"})).await;
        assert_eq!(s, 201, "{r}");
        assert_eq!(r["title"], "Evening show");
        assert_eq!(r["status"], "live");
        assert_eq!(r["anchor"]["id"], uid);
        assert_eq!(r["online"], 0);
        assert!(r["started_at"].as_str().unwrap().ends_with('Z'));
        let id = r["id"].as_i64().unwrap();
        let (s, b) = app.post("/api/rooms", &t, json!({"title": "again", "kind": "pk"})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "already_live"));

        let (other, _) = app.new_user().await;
        let (s, b) = app.delete(&format!("/api/rooms/{id}"), &other).await;
        assert_eq!((s.as_u16(), code(&b)), (403, "forbidden"));
        let (s, _) = app.delete(&format!("/api/rooms/{id}"), &t).await;
        assert_eq!(s, 204);
        let (s, r) = app.get(&format!("/api/rooms/{id}"), &other).await;
        assert_eq!(s, 200);
        assert_eq!(r["status"], "closed");
        let (s, b) = app.ticket(id, &other).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "room_closed"));
        // Closed: the anchor may go live again.
        let (s, _) = app.post("/api/rooms", &t, json!({"title": "second", "kind": "normal"})).await;
        assert_eq!(s, 201);
    }
}

#[actix_web::test]
async fn concurrent_opens_by_one_anchor_make_one_room() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, _) = app.new_user().await;
        let futs = (0..10).map(|i| app.post("/api/rooms", &t, json!({"title": format!("r{i}"), "kind": "normal"})));
        let res = futures_util::future::join_all(futs).await;
        let created = res.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(created, 1, "{res:?}");
        assert!(res.iter().all(|(s, b)| *s == 201 || (*s == 409 && code(b) == "already_live")), "{res:?}");
    }
}

#[actix_web::test]
async fn the_list_shows_live_rooms_newest_first_by_kind_and_page() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let mut ids = vec![];
        for kind in ["normal", "pk", "normal"] {
            let (t, _) = app.new_user().await;
            ids.push(app.open_room(&t, kind).await);
        }
        let (t, _) = app.new_user().await;
        let (s, b) = app.get("/api/rooms", &t).await;
        assert_eq!(s, 200, "{b}");
        let got: Vec<i64> = b["items"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(got, vec![ids[2], ids[1], ids[0]]);
        assert_eq!((b["page"].as_i64(), b["page_size"].as_i64(), b["total"].as_i64()), (Some(1), Some(20), Some(3)));
        let (_, b) = app.get("/api/rooms?kind=pk", &t).await;
        assert_eq!(b["total"], 1);
        assert_eq!(b["items"][0]["id"], ids[1]);
        let (_, b) = app.get("/api/rooms?page=2&page_size=2", &t).await;
        assert_eq!(b["items"].as_array().unwrap().len(), 1);
        assert_eq!(b["items"][0]["id"], ids[0]);
        for q in ["kind=video", "page=0", "page_size=101", "page_size=abc", "page=-1"] {
            let (s, b) = app.get(&format!("/api/rooms?{q}"), &t).await;
            assert_eq!((s.as_u16(), code(&b)), (400, "invalid_input"), "{q}: {b}");
        }
    }
}

#[actix_web::test]
async fn bad_room_input_gets_400_with_the_field() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (t, _) = app.new_user().await;
    for (body, field) in [
        (json!({"title": "", "kind": "normal"}), "title"),
        (json!({"title": "x".repeat(61), "kind": "normal"}), "title"),
        (json!({"title": "ok", "kind": "video"}), "kind"),
        (json!({"title": "ok"}), "kind"),
        (json!({"title": 5, "kind": "normal"}), "title"),
    ] {
        let (s, b) = app.post("/api/rooms", &t, body.clone()).await;
        assert_eq!((s.as_u16(), code(&b)), (400, "invalid_input"), "{body}");
        assert_eq!(b["error"]["field"], field, "{body}");
    }
    let (s, b) = app.get("/api/rooms/abc", &t).await;
    assert_eq!((s.as_u16(), code(&b)), (400, "invalid_input"));
    let (s, b) = app.get("/api/rooms/999999", &t).await;
    assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
    let (s, _) = app.call(Method::GET, "/api/rooms", None, None).await;
    assert_eq!(s, 401);
}

#[actix_web::test]
async fn moderation_is_for_the_anchor_or_an_admin_and_validated() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, _) = app.new_user().await;
    let room = app.open_room(&anchor, "normal").await;
    let (viewer, vid) = app.new_user().await;
    let (admin, _) = app.login("13141150122").await;
    let paths = [
        (Method::POST, format!("/api/rooms/{room}/mutes"), Some(json!({"user_id": vid, "seconds": 60}))),
        (Method::DELETE, format!("/api/rooms/{room}/mutes/{vid}"), None),
        (Method::PUT, format!("/api/rooms/{room}/slow-mode"), Some(json!({"seconds": 5}))),
        (Method::POST, format!("/api/rooms/{room}/kicks"), Some(json!({"user_id": vid}))),
        (Method::DELETE, format!("/api/rooms/{room}/bans/{vid}"), None),
    ];
    for (m, p, body) in &paths {
        let (s, b) = app.call(m.clone(), p, Some(&viewer), body.clone()).await;
        assert_eq!((s.as_u16(), code(&b)), (403, "forbidden"), "{p}");
        let (s, b) = app.call(m.clone(), p, Some(&admin), body.clone()).await;
        assert!(s.is_success(), "admin {p}: {s} {b}");
        let (s, b) = app.call(m.clone(), p, Some(&anchor), body.clone()).await;
        assert!(s.is_success(), "anchor {p}: {s} {b}");
    }
    for (p, body, field) in [
        ("mutes", json!({"user_id": vid, "seconds": 9}), "seconds"),
        ("mutes", json!({"user_id": vid, "seconds": 86401}), "seconds"),
        ("mutes", json!({"user_id": "x", "seconds": 60}), "user_id"),
        ("kicks", json!({"ban": true}), "user_id"),
    ] {
        let (s, b) = app.post(&format!("/api/rooms/{room}/{p}"), &anchor, body.clone()).await;
        assert_eq!((s.as_u16(), code(&b)), (400, "invalid_input"), "{body}");
        assert_eq!(b["error"]["field"], field);
    }
    let (s, b) = app
        .call(Method::PUT, &format!("/api/rooms/{room}/slow-mode"), Some(&anchor), Some(json!({"seconds": 301})))
        .await;
    assert_eq!((s.as_u16(), b["error"]["field"].as_str()), (400, Some("seconds")));
    let (s, b) = app.delete(&format!("/api/rooms/{room}/messages/12345"), &anchor).await;
    assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
}

#[actix_web::test]
async fn a_banned_user_gets_403_on_im_until_lifted() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (viewer, vid) = app.new_user().await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/kicks"), &anchor, json!({"user_id": vid, "ban": true})).await;
        assert_eq!(s, 200);
        let (s, b) = app.ticket(room, &viewer).await;
        assert_eq!(s, 403, "{b}");
        let (s, _) = app.delete(&format!("/api/rooms/{room}/bans/{vid}"), &anchor).await;
        assert_eq!(s, 204);
        let (s, _) = app.ticket(room, &viewer).await;
        assert_eq!(s, 200);
    }
}

#[actix_web::test]
async fn hole18_a_close_that_failed_half_way_completes_when_retried() {
    for set in backend_sets() {
        // The periodic sweep is kept out of the way: the retried close must finish the job.
        let app = spawn_app_with(set, |s| s.rain.sweep_interval_s = 3600).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        app.approved_rain(&anchor, 100, 10).await;
        app.recharge(&anchor, 2).await; // 300 coins
        let (s, r) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(app.balance(&anchor).await, 200);
        let (viewer, _) = app.new_user().await;
        let (mut v, _) = app.join(room, &viewer).await;
        // The rain hook's first write fails: the close cannot finish.
        let blocked = crate::pk::block_update(&app, "rains", "status", "running").await;
        let (s, b) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 500, "{b}");
        // The viewers are told all the same, and the room is gone from this node.
        v.expect("room_closed").await;
        assert!(app.state.rooms.get(room).is_none());
        crate::pk::unblock(&app, &blocked).await;
        let (s, b) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204, "{b}");
        assert_eq!(app.balance(&anchor).await, 300, "the retried close refunded the rain");
        use liveroom::storage::entities::rains;
        use sea_orm::EntityTrait;
        let r = rains::Entity::find().all(&app.state.b.db).await.unwrap();
        assert_eq!((r[0].status.as_str(), r[0].refunded), ("ended", Some(100)));
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204, "closing again is harmless");
        assert_eq!(app.balance(&anchor).await, 300, "and refunds nothing twice");
        assert!(app.state.rooms.get(room).is_none());
    }
}

#[actix_web::test]
async fn hole18_a_handler_that_read_the_room_before_its_close_starts_no_actor() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        // A handler read the live row ...
        let row = liveroom::storage::rooms::find(&app.state.b.db, room).await.unwrap().unwrap();
        // ... the room closes ...
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204);
        assert!(app.state.rooms.get(room).is_none());
        // ... and the handler goes on to use the room's actor.
        let res = liveroom::services::rooms::room_actor(&app.state, &row).await;
        assert_eq!(res.err().map(|e| e.code().as_str()), Some("room_closed"));
        assert!(app.state.rooms.get(room).is_none(), "no actor runs for the closed room");
    }
}

#[actix_web::test]
async fn hole19_a_room_whose_actor_died_works_again() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, aid) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (mut a, _) = app.join(room, &anchor).await;
        a.chat("before").await;
        a.expect("chat").await;
        let addr = app.state.rooms.get(room).unwrap();
        // A bug in a handler panics: the actor and its mailbox are gone (no supervisor restart).
        let _ = addr.send(liveroom::actors::registry::InjectedPanic).await;
        for _ in 0..100 {
            if !addr.connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!addr.connected(), "the actor is dead");
        drop(addr);
        // A new viewer joins, chats and sees a gift's effect.
        let (viewer, _) = app.new_user().await;
        let (mut v, w) = app.join(room, &viewer).await;
        assert_eq!(w["data"]["room"]["id"], room);
        v.chat("after").await;
        assert_eq!(v.expect("chat").await["data"]["text"], "after");
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 1).await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 2, "to": aid})).await;
        assert_eq!(s, 200, "{b}");
        let g = v.expect("gift").await;
        assert_eq!(g["data"]["gift"]["id"], 2);
        assert!(app.state.rooms.get(room).unwrap().connected());
    }
}
