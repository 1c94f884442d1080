//! Red-packet rain: applications, prepare/start/grab/end, concurrency and a restart.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

impl TestApp {
    /// An approved application of `total` coins in `packets` for `anchor`.
    pub async fn approved_rain(&self, anchor: &str, total: i64, packets: i64) -> i64 {
        let (s, a) =
            self.post("/api/red-packet/applications", anchor, json!({"total_coins": total, "packets": packets})).await;
        assert_eq!(s, 201, "{a}");
        let admin = self.admin().await;
        let id = a["id"].as_i64().unwrap();
        let (s, b) = self.post(&format!("/api/admin/red-packet/applications/{id}/approve"), &admin, json!({})).await;
        assert_eq!(s, 200, "{b}");
        id
    }
}

#[actix_web::test]
async fn applications_are_validated_and_decided_by_admins() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (anchor, aid) = app.new_user().await;
    for (body, field) in [
        (json!({"total_coins": 5, "packets": 10}), "total_coins"),
        (json!({"total_coins": 0, "packets": 1}), "total_coins"),
        (json!({"total_coins": 10_000_001, "packets": 1}), "total_coins"),
        (json!({"total_coins": 100, "packets": 0}), "packets"),
        (json!({"total_coins": 200_000, "packets": 100_001}), "packets"),
        (json!({"total_coins": "x", "packets": 1}), "total_coins"),
    ] {
        let (s, b) = app.post("/api/red-packet/applications", &anchor, body.clone()).await;
        assert_eq!((s.as_u16(), b["error"]["field"].as_str()), (400, Some(field)), "{body}");
    }
    let (s, a) = app.post("/api/red-packet/applications", &anchor, json!({"total_coins": 100, "packets": 10})).await;
    assert_eq!(s, 201);
    assert_eq!(
        (a["status"].as_str(), a["anchor_id"].as_i64(), a["total_coins"].as_i64()),
        (Some("pending"), Some(aid), Some(100))
    );
    let id = a["id"].as_i64().unwrap();
    let (s, _) = app.get("/api/admin/red-packet/applications?status=pending", &anchor).await;
    assert_eq!(s, 403);
    let admin = app.admin().await;
    let (s, page) = app.get("/api/admin/red-packet/applications?status=pending", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 1);
    let (_, me) = app.get("/api/me", &anchor).await;
    assert_eq!(me["privileges"]["red_packet"], false);
    let (s, b) = app.post(&format!("/api/admin/red-packet/applications/{id}/approve"), &admin, json!({})).await;
    assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("approved")));
    let (_, me) = app.get("/api/me", &anchor).await;
    assert_eq!(me["privileges"]["red_packet"], true);
    let (s, b) = app.post(&format!("/api/admin/red-packet/applications/{id}/reject"), &admin, json!({})).await;
    assert_eq!((s.as_u16(), code(&b)), (409, "not_pending"));
    let (s, _) = app.post("/api/admin/red-packet/applications/999/approve", &admin, json!({})).await;
    assert_eq!(s, 404);
    let (s, b) = app.get("/api/admin/red-packet/applications?status=maybe", &admin).await;
    assert_eq!((s.as_u16(), b["error"]["field"].as_str()), (400, Some("status")));
}

#[actix_web::test]
async fn a_rain_is_paid_for_started_once_grabbed_and_refunded() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (403, "no_privilege"));
        app.approved_rain(&anchor, 100, 10).await;
        let (viewer, _) = app.new_user().await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &viewer, json!({})).await;
        assert_eq!(s, 403);
        let (s, b) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (402, "insufficient_balance"));
        let (_, me) = app.get("/api/me", &anchor).await;
        assert_eq!(me["privileges"]["red_packet"], true, "a failed prepare uses nothing");
        app.recharge(&anchor, 2).await; // 300 coins
        let (s, b) = app.post(&format!("/api/rooms/{room}/rain/grab"), &viewer, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "rain_not_running"));
        let (s, b) = app.post(&format!("/api/rooms/{room}/rain/start"), &anchor, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "not_prepared"));
        let (s, r) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(
            (r["status"].as_str(), r["total_coins"].as_i64(), r["packets"].as_i64(), r["left"].as_i64()),
            (Some("prepared"), Some(100), Some(10), Some(10))
        );
        assert_eq!(app.balance(&anchor).await, 200);
        let (_, me) = app.get("/api/me", &anchor).await;
        assert_eq!(me["privileges"]["red_packet"], false, "the application is used");
        let (mut v, _) = app.join(room, &viewer).await;
        // Concurrent starts: one wins, viewers hear it once.
        let start_path = format!("/api/rooms/{room}/rain/start");
        let starts = (0..5).map(|_| app.post(&start_path, &anchor, json!({})));
        let res = futures_util::future::join_all(starts).await;
        assert_eq!(res.iter().filter(|(s, _)| *s == 200).count(), 1, "{res:?}");
        assert!(res.iter().all(|(s, b)| *s == 200 || code(b) == "not_prepared"));
        let started = v.expect("rain_started").await;
        assert_eq!(started["data"]["packets"], 10);
        assert!(v.quiet_of("rain_started", Duration::from_millis(500)).await, "exactly once");
        let (s, g) = app.post(&format!("/api/rooms/{room}/rain/grab"), &viewer, json!({})).await;
        assert_eq!(s, 200, "{g}");
        let first = g["amount"].as_i64().unwrap();
        assert!(first >= 1 && g["balance"] == first);
        let n = v.expect("notice").await;
        assert_eq!((n["data"]["kind"].as_str(), n["data"]["amount"].as_i64()), (Some("rain_credited"), Some(first)));
        let mut got = first;
        for _ in 0..3 {
            let (s, g) = app.post(&format!("/api/rooms/{room}/rain/grab"), &viewer, json!({})).await;
            assert_eq!(s, 200);
            got += g["amount"].as_i64().unwrap();
        }
        assert_eq!(app.balance(&viewer).await, got);
        // End it now: close the room (a rain in it ends, the rest goes back).
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204);
        let ended = v.expect("rain_ended").await;
        assert_eq!(
            (ended["data"]["handed_out"].as_i64(), ended["data"]["coins"].as_i64(), ended["data"]["refunded"].as_i64()),
            (Some(4), Some(got), Some(100 - got))
        );
        assert_eq!(app.balance(&anchor).await, 200 + 100 - got);
        let kinds: Vec<String> =
            app.all_trades(&anchor).await.iter().map(|t| t["kind"].as_str().unwrap().to_owned()).collect();
        assert!(kinds.contains(&"rain_fund".to_owned()) && kinds.contains(&"rain_refund".to_owned()), "{kinds:?}");
    }
}

#[actix_web::test]
async fn five_hundred_grabbers_claim_every_packet_once() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.limits.enabled = false;
            s.rain.duration_s = 300;
        })
        .await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        app.approved_rain(&anchor, 30_000, 10_000).await;
        for _ in 0..5 {
            app.recharge(&anchor, 5).await; // 6480 each
        }
        let (s, r) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{r}");
        app.post(&format!("/api/rooms/{room}/rain/start"), &anchor, json!({})).await;
        let mut users = vec![];
        for chunk in 0..10 {
            let logins = (0..50).map(|_| app.new_user());
            users.extend(futures_util::future::join_all(logins).await.into_iter().map(|(t, _)| t));
            let _ = chunk;
        }
        let app = &app;
        let path = format!("/api/rooms/{room}/rain/grab");
        let path = &path;
        let grabbers = users.iter().map(|t| async move {
            let mut sum = 0;
            loop {
                let (s, b) = app.post(path, t, json!({})).await;
                match s.as_u16() {
                    200 => sum += b["amount"].as_i64().unwrap(),
                    409 if code(&b) == "rain_empty" => return sum,
                    _ => panic!("grab: {s} {b}"),
                }
            }
        });
        let sums = futures_util::future::join_all(grabbers).await;
        assert_eq!(sums.iter().sum::<i64>(), 30_000, "every coin handed out once");
        for (t, sum) in users.iter().zip(&sums) {
            assert_eq!(app.balance(t).await, *sum, "balance matches what the grabs said");
        }
        use liveroom::storage::entities::{red_packets, trades};
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let claimed = red_packets::Entity::find()
            .filter(red_packets::Column::UserId.is_not_null())
            .count(&app.state.b.db)
            .await
            .unwrap();
        assert_eq!(claimed, 10_000);
        let credits =
            trades::Entity::find().filter(trades::Column::Kind.eq("red_packet")).all(&app.state.b.db).await.unwrap();
        assert_eq!(credits.len(), 10_000);
        assert_eq!(credits.iter().map(|t| t.amount).sum::<i64>(), 30_000);
    }
}

#[actix_web::test]
async fn a_rain_running_when_the_server_stopped_ends_after_start_up_with_nothing_lost() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.rain.duration_s = 2).await;
        let (anchor, anchor_id) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        app.approved_rain(&anchor, 50, 5).await;
        app.recharge(&anchor, 1).await;
        app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        app.post(&format!("/api/rooms/{room}/rain/start"), &anchor, json!({})).await;
        let (viewer, viewer_id) = app.new_user().await;
        let (s, g) = app.post(&format!("/api/rooms/{room}/rain/grab"), &viewer, json!({})).await;
        assert_eq!(s, 200);
        let grabbed = g["amount"].as_i64().unwrap();
        app.stop().await;
        tokio::time::sleep(Duration::from_millis(2300)).await;
        let app2 = spawn_on(&app.storage, |s| s.rain.duration_s = 2).await;
        use liveroom::storage::entities::{rains, wallets};
        use sea_orm::EntityTrait;
        let mut status = String::new();
        for _ in 0..100 {
            let r = rains::Entity::find().all(&app2.state.b.db).await.unwrap();
            status = r[0].status.clone();
            if status == "ended" {
                assert_eq!(r[0].refunded, Some(50 - grabbed));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, "ended");
        let a = wallets::Entity::find_by_id(anchor_id).one(&app2.state.b.db).await.unwrap().unwrap();
        let v = wallets::Entity::find_by_id(viewer_id).one(&app2.state.b.db).await.unwrap().unwrap();
        assert_eq!((a.balance, v.balance), (60 - 50 + 50 - grabbed, grabbed), "every coin is somewhere, once");
    }
}

/// A rain's stored row.
async fn stored_rain(app: &TestApp, id: i64) -> liveroom::storage::entities::rains::Model {
    use sea_orm::EntityTrait;
    liveroom::storage::entities::rains::Entity::find_by_id(id).one(&app.state.b.db).await.unwrap().unwrap()
}

/// What a prepare writes before its debit, as a prepare that died there (a crash) leaves it:
/// the rain `preparing` with its packets.
async fn preparing_rain(app: &TestApp, room: i64, anchor_id: i64, application_id: i64, total: i64) -> i64 {
    use liveroom::storage::{entities::rains as rain_rows, rains};
    let id = app.state.b.ids.next("rain").await.unwrap();
    let model = rain_rows::Model {
        id,
        room_id: room,
        anchor_id,
        application_id,
        status: liveroom::domain::redpacket::RainStatus::Preparing.as_str().into(),
        total_coins: total,
        packets: 10,
        ends_at: None,
        refunded: None,
        created_at: liveroom::clock::now_ms(),
    };
    rains::insert_preparing(&app.state.b.db, &model, &[total / 10; 10], id * 1_000_000).await.unwrap();
    id
}

#[actix_web::test]
async fn hole04_a_prepare_whose_debit_fails_leaves_the_room_free() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        app.approved_rain(&anchor, 100, 10).await;
        app.recharge(&anchor, 2).await; // 300 coins
                                        // The debit's transaction fails (its guard on the application errors).
        let blocked = crate::pk::block_update(&app, "red_packet_applications", "status", "used").await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 500, "{b}");
        assert_eq!(app.balance(&anchor).await, 300, "nothing was paid");
        crate::pk::unblock(&app, &blocked).await;
        let (s, r) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "the room is not left rain_busy: {r}");
        assert_eq!(app.balance(&anchor).await, 200);
    }
}

#[actix_web::test]
async fn hole04_rains_a_crash_left_preparing_are_settled_by_the_sweep() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.rain.sweep_interval_s = 1;
            s.rain.preparing_timeout_s = 2;
        })
        .await;
        // Unpaid: the prepare died between the row and the debit.
        let (anchor, anchor_id) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        let app_id = app.approved_rain(&anchor, 100, 10).await;
        app.recharge(&anchor, 2).await; // 300 coins
        let unpaid = preparing_rain(&app, room, anchor_id, app_id, 100).await;
        let (s, b) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "rain_busy"));
        // Paid: its debit committed (as the prepare's wallet write names it) but not the status.
        let (anchor2, anchor2_id) = app.new_user().await;
        let room2 = app.open_room(&anchor2, "normal").await;
        let app2_id = app.approved_rain(&anchor2, 100, 10).await;
        app.recharge(&anchor2, 2).await;
        let paid = preparing_rain(&app, room2, anchor2_id, app2_id, 100).await;
        use liveroom::domain::money::TradeKind;
        use liveroom::storage::wallets::{Effect, Outcome, WalletOp};
        let op = WalletOp::new(anchor2_id, -100, TradeKind::RainFund, format!("rain:{paid}"), Effect::None);
        assert!(matches!(app.state.b.wallets.apply(op).await.unwrap(), Outcome::Done { .. }));
        assert_eq!(app.balance(&anchor2).await, 200);
        // The sweep fails the first and refunds the second; the first room is free again.
        let mut last = (0, json!({}));
        for _ in 0..150 {
            let (s, b) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
            last = (s.as_u16(), b);
            if last.0 == 200 {
                break;
            }
            assert!(code(&last.1) == "rain_busy" || code(&last.1) == "no_privilege", "{last:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(last.0, 200, "{last:?}");
        assert_eq!(stored_rain(&app, unpaid).await.status, "failed");
        assert_eq!(app.balance(&anchor).await, 200, "only the new rain was paid for");
        for _ in 0..100 {
            if stored_rain(&app, paid).await.status == "ended" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = stored_rain(&app, paid).await;
        assert_eq!((r.status.as_str(), r.refunded), ("ended", Some(100)));
        assert_eq!(app.balance(&anchor2).await, 300, "the paid one is refunded");
    }
}

#[actix_web::test]
async fn hole04_every_unstarted_rain_of_a_closing_room_is_refunded_or_failed() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.rain.sweep_interval_s = 3600).await;
        let (anchor, anchor_id) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        app.approved_rain(&anchor, 100, 10).await;
        app.recharge(&anchor, 2).await; // 300 coins
        let (s, r) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{r}");
        let prepared = r["id"].as_i64().unwrap();
        // A second prepare is in flight: its row is written, its debit not yet.
        let app2_id = app.approved_rain(&anchor, 50, 10).await;
        let in_flight = preparing_rain(&app, room, anchor_id, app2_id, 50).await;
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 204);
        let r = stored_rain(&app, prepared).await;
        assert_eq!((r.status.as_str(), r.refunded), ("ended", Some(100)), "the prepared rain is refunded");
        assert_eq!(app.balance(&anchor).await, 300);
        assert_eq!(stored_rain(&app, in_flight).await.status, "failed");
        // The in-flight debit now arrives: it is refused, so nothing is stranded.
        use liveroom::domain::money::TradeKind;
        use liveroom::storage::wallets::{Effect, Outcome, WalletOp};
        let op = WalletOp::new(
            anchor_id,
            -50,
            TradeKind::RainFund,
            format!("rain:{in_flight}"),
            Effect::Guards(liveroom::storage::rains::prepare_guards(&app.state.b.db, in_flight, app2_id)),
        );
        assert_eq!(app.state.b.wallets.apply(op).await.unwrap(), Outcome::Refused);
        assert_eq!(app.balance(&anchor).await, 300);
    }
}

#[actix_web::test]
async fn hole04_a_rain_a_failed_close_left_is_refunded_by_the_sweep() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.rain.sweep_interval_s = 1).await;
        let (anchor, _) = app.new_user().await;
        let room = app.open_room(&anchor, "normal").await;
        app.approved_rain(&anchor, 100, 10).await;
        app.recharge(&anchor, 2).await; // 300 coins
        let (s, r) = app.post(&format!("/api/rooms/{room}/rain/prepare"), &anchor, json!({})).await;
        assert_eq!(s, 200, "{r}");
        let blocked = crate::pk::block_update(&app, "rains", "status", "running").await;
        let (s, _) = app.delete(&format!("/api/rooms/{room}"), &anchor).await;
        assert_eq!(s, 500);
        crate::pk::unblock(&app, &blocked).await;
        // Nobody retries the close: the sweep refunds the rain.
        let id = r["id"].as_i64().unwrap();
        for _ in 0..150 {
            if stored_rain(&app, id).await.status == "ended" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = stored_rain(&app, id).await;
        assert_eq!((r.status.as_str(), r.refunded), ("ended", Some(100)));
        assert_eq!(app.balance(&anchor).await, 300);
    }
}
