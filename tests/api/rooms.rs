//! Rooms over HTTP: open, list, get, close, tickets, moderation endpoints' rules.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

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
