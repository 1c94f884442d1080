//! Data people expect to keep across a restart of the app: mutes and their end on every backend
//! set; sessions, carts and pending notices also on the embedded set (the redb key-value file).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use crate::ws_client::Got;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn hole20_mutes_sessions_carts_and_notices_survive_a_restart() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let product = app.approved_product(&anchor, 5, 10).await;
        let (viewer, vid) = app.new_user().await;

        let (s, b) = app
            .post(&format!("/api/rooms/{room}/cart/items"), &viewer, json!({"product_id": product, "count": 2}))
            .await;
        assert!(s.is_success(), "{set:?}: cart: {s} {b}");
        // Sent while the viewer is offline: it waits for their next welcome.
        let notice = app.state.notices.send(vid, "order_paid", json!({"order_id": 1})).await.unwrap();
        let (s, m) =
            app.post(&format!("/api/rooms/{room}/mutes"), &anchor, json!({"user_id": vid, "seconds": 10})).await;
        assert_eq!(s, 200, "{set:?}: mute: {m}");
        let until = chrono::DateTime::parse_from_rfc3339(m["until"].as_str().unwrap()).unwrap().timestamp_millis();

        app.stop().await;
        let app2 = spawn_on(&app.storage, |_| {}).await;

        let (s, me) = app2.get("/api/me", &viewer).await;
        assert_eq!(s, 200, "{set:?}: the session token still works: {me}");
        assert_eq!(me["id"].as_i64(), Some(vid), "{set:?}");
        let (s, cart) = app2.get(&format!("/api/rooms/{room}/cart"), &viewer).await;
        assert_eq!(s, 200, "{set:?}: {cart}");
        let items: Vec<(i64, i64)> = cart["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["product_id"].as_i64().unwrap(), i["count"].as_i64().unwrap()))
            .collect();
        assert_eq!(items, [(product, 2)], "{set:?}: the cart is still there: {cart}");

        let (mut v, _) = app2.join(room, &viewer).await;
        let n = v.expect("notice").await;
        assert_eq!(n["data"]["id"], notice.as_str(), "{set:?}: the pending notice is delivered");
        v.send(json!({"type": "ack", "data": {"id": notice}})).await;

        // Still muted, and the mute ends when it said it would, not at the restart.
        v.chat("am I muted?").await;
        let e = v.expect("error").await;
        assert_eq!(e["data"]["code"], "muted", "{set:?}: {e}");
        let mut spoke_at = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while tokio::time::Instant::now() < deadline {
            v.chat("hello again").await;
            if let Some(f) = chat_or_error(&mut v).await {
                if f["type"] == "chat" {
                    spoke_at = Some(liveroom::clock::now_ms());
                    break;
                }
                assert_eq!(f["data"]["code"], "muted", "{set:?}: {f}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let spoke_at = spoke_at.unwrap_or_else(|| panic!("{set:?}: the mute never ended"));
        assert!(spoke_at >= until, "{set:?}: the mute ended early ({spoke_at} < {until})");
    }
}

/// The answer to a chat: the room's `chat` frame or an `error`; snapshots are skipped.
async fn chat_or_error(v: &mut crate::ws_client::Ws) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match v.next(left).await {
            Got::Frame(f) if f["type"] == "chat" || f["type"] == "error" => return Some(f),
            Got::Frame(_) => continue,
            _ => return None,
        }
    }
}
