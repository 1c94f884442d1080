//! PK battles: joining, the score rule under concurrent gifts, ending once, and a restart.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn a_challenger_joins_a_pk_room_once() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (host, hid) = app.new_user().await;
        let room = app.open_room(&host, "pk").await;
        let (s, p) = app.get(&format!("/api/rooms/{room}/pk"), &host).await;
        assert_eq!(s, 200);
        assert_eq!(
            (p["status"].as_str(), p["score"].as_i64(), p["host"]["id"].as_i64()),
            (Some("waiting"), Some(50), Some(hid))
        );
        assert!(p["challenger"].is_null());
        let (s, b) = app.post(&format!("/api/rooms/{room}/pk/join"), &host, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (403, "forbidden"));
        let (no_room, _) = app.new_user().await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/pk/join"), &no_room, json!({})).await;
        assert_eq!(s, 403, "a challenger needs a live room of their own");
        let (c1, cid) = app.new_user().await;
        app.open_room(&c1, "pk").await;
        let (c2, _) = app.new_user().await;
        app.open_room(&c2, "normal").await;
        let (s, p) = app.post(&format!("/api/rooms/{room}/pk/join"), &c1, json!({})).await;
        assert_eq!(s, 200, "{p}");
        assert_eq!((p["status"].as_str(), p["challenger"]["id"].as_i64()), (Some("running"), Some(cid)));
        assert!(p["ends_at"].as_str().unwrap().ends_with('Z'));
        let (s, b) = app.post(&format!("/api/rooms/{room}/pk/join"), &c2, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "pk_busy"));
        let (normal_anchor, _) = app.new_user().await;
        let normal = app.open_room(&normal_anchor, "normal").await;
        let (s, b) = app.post(&format!("/api/rooms/{normal}/pk/join"), &c2, json!({})).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "not_pk_room"));
        let (s, _) = app.get(&format!("/api/rooms/{normal}/pk"), &c2).await;
        assert_eq!(s, 404);
        let (_, list) = app.get("/api/rooms?kind=pk", &c2).await;
        let listed = list["items"].as_array().unwrap().iter().find(|r| r["id"] == room).unwrap().clone();
        assert_eq!(listed["pk"]["status"], "running");
        // The challenger leaves: the host wins.
        let (s, p) = app.post(&format!("/api/rooms/{room}/pk/leave"), &c1, json!({})).await;
        assert_eq!(s, 200, "{p}");
        assert_eq!((p["status"].as_str(), p["winner"].as_i64()), (Some("ended"), Some(hid)));
    }
}

#[actix_web::test]
async fn concurrent_gifts_move_the_score_by_the_rule_and_the_winner_is_announced_once() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.pk.duration_s = 3).await;
        let (host, hid) = app.new_user().await;
        let room = app.open_room(&host, "pk").await;
        let (ch, cid) = app.new_user().await;
        app.open_room(&ch, "normal").await;
        let (viewer, _) = app.new_user().await;
        let (mut v, _) = app.join(room, &viewer).await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
        assert_eq!(s, 200);
        v.expect("pk_started").await;
        let mut senders = vec![];
        for _ in 0..20 {
            let (t, _) = app.new_user().await;
            app.recharge(&t, 1).await;
            senders.push(t);
        }
        // Hearts (10 coins → 1 point) to both sides at once.
        let app = &app;
        let path = format!("/api/rooms/{room}/gifts");
        let path = &path;
        let sends = senders.iter().enumerate().flat_map(|(i, t)| {
            let to = if i % 2 == 0 { hid } else { cid };
            (0..3).map(move |_| async move { app.post(path, t, json!({"gift_id": 2, "to": to})).await })
        });
        for (s, b) in futures_util::future::join_all(sends).await {
            assert_eq!(s, 200, "{b}");
        }
        // Each gift took its place in the PK's order as it committed (1..=60, none twice), and
        // the rule applied in that order gives the final score.
        let pk_id = v_pk_id(app, room, &viewer).await;
        let rows = liveroom::storage::pks::counted_gifts(&app.state.b.db, pk_id).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.pk_seq).collect::<Vec<_>>(), (1..=60).map(Some).collect::<Vec<_>>());
        let mut want = 50;
        for r in &rows {
            let side =
                if r.to_id == hid { liveroom::domain::pk::Side::Host } else { liveroom::domain::pk::Side::Challenger };
            want = liveroom::domain::pk::apply_gift(want, side, r.coins, liveroom::domain::pk::COINS_PER_POINT);
        }
        let ended = v.expect("pk_ended").await;
        assert_eq!(ended["data"]["pk"]["score"], want);
        assert_eq!(ended["data"]["pk"]["status"], "ended");
        let expect_winner = match want.cmp(&50) {
            std::cmp::Ordering::Greater => json!(hid),
            std::cmp::Ordering::Less => json!(cid),
            _ => json!(null),
        };
        assert_eq!(ended["data"]["winner"], expect_winner);
        assert!(v.quiet_of("pk_ended", Duration::from_millis(1500)).await, "announced once");
        let (_, p) = app.get(&format!("/api/rooms/{room}/pk"), &viewer).await;
        assert_eq!((p["status"].as_str(), p["score"].as_i64()), (Some("ended"), Some(want)));
        // Each side's coins are the sums of its counted gifts: 10 senders × 3 hearts × 10.
        assert_eq!((p["host_coins"].as_i64(), p["challenger_coins"].as_i64()), (Some(300), Some(300)), "{p}");
        assert_eq!(ended["data"]["pk"]["host_coins"], 300);
    }
}

async fn v_pk_id(app: &TestApp, room: i64, token: &str) -> i64 {
    app.get(&format!("/api/rooms/{room}/pk"), token).await.1["id"].as_i64().unwrap()
}

#[actix_web::test]
async fn a_knockout_ends_the_pk_at_once() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (host, hid) = app.new_user().await;
    let room = app.open_room(&host, "pk").await;
    let (ch, _) = app.new_user().await;
    app.open_room(&ch, "normal").await;
    app.post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
    let (fan, _) = app.new_user().await;
    app.recharge(&fan, 2).await;
    app.recharge(&fan, 2).await;
    // A crown (100) ×5 = 500 coins = 50 points: 50 → 100.
    let (s, b) =
        app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 4, "count": 5, "to": hid})).await;
    assert_eq!(s, 200, "{b}");
    let mut p = json!({});
    for _ in 0..50 {
        p = app.get(&format!("/api/rooms/{room}/pk"), &fan).await.1;
        if p["status"] == "ended" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (p["status"].as_str(), p["score"].as_i64(), p["winner"].as_i64()),
        (Some("ended"), Some(100), Some(hid))
    );
}

/// `pk.coins_per_point` sets the scale: at 100 coins a point, five crowns (500 coins) move the bar
/// five points, where the default scale would end the PK by knockout.
#[actix_web::test]
async fn the_bar_moves_by_the_scale_the_pk_started_with() {
    let app = spawn_app_with(BackendSet::Embedded, |s| s.pk.coins_per_point = 100).await;
    let (host, hid) = app.new_user().await;
    let room = app.open_room(&host, "pk").await;
    let (ch, _) = app.new_user().await;
    app.open_room(&ch, "normal").await;
    let (s, pk) = app.post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
    assert_eq!(s, 200, "{pk}");
    let (fan, _) = app.new_user().await;
    app.recharge(&fan, 2).await;
    app.recharge(&fan, 2).await;
    let (s, b) =
        app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 4, "count": 5, "to": hid})).await;
    assert_eq!(s, 200, "{b}");
    let mut p = json!({});
    for _ in 0..50 {
        p = app.get(&format!("/api/rooms/{room}/pk"), &fan).await.1;
        if p["score"] == 55 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (p["status"].as_str(), p["score"].as_i64(), p["host_coins"].as_i64()),
        (Some("running"), Some(55), Some(500))
    );
    let stored = stored_pk(&app, pk["id"].as_i64().unwrap()).await;
    assert_eq!(stored.coins_per_point, 100);
}

#[actix_web::test]
async fn a_pk_whose_time_passed_while_the_server_was_down_ends_at_start_up() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.pk.duration_s = 2).await;
        let (host, hid) = app.new_user().await;
        let room = app.open_room(&host, "pk").await;
        let (ch, _) = app.new_user().await;
        app.open_room(&ch, "normal").await;
        app.post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
        let (fan, _) = app.new_user().await;
        app.recharge(&fan, 1).await;
        let (s, _) = app.post(&format!("/api/rooms/{room}/gifts"), &fan, json!({"gift_id": 3, "to": hid})).await;
        assert_eq!(s, 200);
        app.stop().await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let app2 = spawn_on(&app.storage, |s| s.pk.duration_s = 2).await;
        // Sessions live in the key-value store, which the embedded set keeps in memory.
        let (fan, _) = app2.new_user().await;
        let mut p = json!({});
        for _ in 0..100 {
            p = app2.get(&format!("/api/rooms/{room}/pk"), &fan).await.1;
            if p["status"] == "ended" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            (p["status"].as_str(), p["score"].as_i64(), p["winner"].as_i64()),
            (Some("ended"), Some(52), Some(hid)),
            "{p}"
        );
    }
}

/// Makes every update of `table` that sets `column` to `value` fail on the test's own
/// database (a trigger), as a failing disk or a dropped connection would fail that write.
/// Returns a handle for `unblock`.
pub async fn block_update(app: &TestApp, table: &str, column: &str, value: &str) -> (String, String) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let db = &app.state.b.db;
    let name = format!("block_{table}_{value}");
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => vec![format!(
            "CREATE TRIGGER {name} BEFORE UPDATE OF {column} ON {table} FOR EACH ROW \
             WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END"
        )],
        DbBackend::Postgres => vec![
            format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'blocked by the test'; END IF; \
                 RETURN NEW; END $$"
            ),
            format!("CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"),
        ],
        DbBackend::MySql => vec![format!(
            "CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW BEGIN \
             IF NEW.{column} = '{value}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'blocked by the test'; \
             END IF; END"
        )],
    };
    for s in sql {
        db.execute_unprepared(&s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    (name, table.to_owned())
}

/// Removes what `block_update` installed.
pub async fn unblock(app: &TestApp, (name, table): &(String, String)) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let db = &app.state.b.db;
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => vec![format!("DROP TRIGGER {name} ON {table}"), format!("DROP FUNCTION {name}()")],
        _ => vec![format!("DROP TRIGGER {name}")],
    };
    for s in sql {
        db.execute_unprepared(&s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

/// The stored status of a PK.
async fn stored_pk(app: &TestApp, pk_id: i64) -> liveroom::storage::entities::pks::Model {
    use sea_orm::EntityTrait;
    liveroom::storage::entities::pks::Entity::find_by_id(pk_id).one(&app.state.b.db).await.unwrap().unwrap()
}

#[actix_web::test]
async fn hole05_a_pk_whose_end_write_fails_stays_due_until_the_end_is_stored() {
    for set in backend_sets() {
        // The periodic sweep is kept out of the way: the timer's own job must finish it.
        let app = spawn_app_with(set, |s| {
            s.pk.duration_s = 2;
            s.pk.sweep_interval_s = 3600;
        })
        .await;
        let (host, _) = app.new_user().await;
        let room = app.open_room(&host, "pk").await;
        let (ch, _) = app.new_user().await;
        app.open_room(&ch, "normal").await;
        let (viewer, _) = app.new_user().await;
        let (mut v, _) = app.join(room, &viewer).await;
        let blocked = block_update(&app, "pks", "status", "ended").await;
        let (s, p) = app.post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
        assert_eq!(s, 200, "{p}");
        let pk_id = p["id"].as_i64().unwrap();
        // The timer fires at 2 s and its end write fails.
        tokio::time::sleep(Duration::from_millis(4500)).await;
        assert_eq!(stored_pk(&app, pk_id).await.status, "running", "the end could not be stored");
        unblock(&app, &blocked).await;
        let mut status = String::new();
        for _ in 0..300 {
            status = stored_pk(&app, pk_id).await.status;
            if status == "ended" {
                break;
            }
            v.send(json!({"type": "ping"})).await; // the viewer stays while it waits
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "ended", "the end is retried until it is stored");
        let ended = v.expect("pk_ended").await;
        assert_eq!(ended["data"]["pk"]["id"], pk_id);
        assert!(v.quiet_of("pk_ended", Duration::from_millis(1500)).await, "announced once");
        let (_, p) = app.get(&format!("/api/rooms/{room}/pk"), &viewer).await;
        assert_eq!(p["status"], "ended");
    }
}

#[actix_web::test]
async fn issue16_a_pk_started_while_the_broker_is_down_still_ends_when_it_returns() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for set in backend_sets() {
        let down = Arc::new(AtomicBool::new(true));
        // No periodic sweep during the test: only the end timer can end this PK.
        let tweak = |s: &mut liveroom::settings::Settings| {
            s.pk.duration_s = 2;
            s.pk.sweep_interval_s = 3600;
        };
        let app = spawn_app_wrapped(set, tweak, crate::commerce::flaky(down.clone())).await;
        let (host, _) = app.new_user().await;
        let room = app.open_room(&host, "pk").await;
        let (ch, _) = app.new_user().await;
        app.open_room(&ch, "normal").await;
        let (s, p) = app.post(&format!("/api/rooms/{room}/pk/join"), &ch, json!({})).await;
        assert_eq!(s, 200, "a PK starts while the broker is down: {p}");
        // Past its end with the broker still down: the end timer waits in the database.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let p = app.get(&format!("/api/rooms/{room}/pk"), &ch).await.1;
        assert_eq!(p["status"], "running", "{set:?} {p}");
        assert!(app.state.b.outbox.waiting().await.unwrap() >= 1, "the end timer waits in the outbox");
        // The broker returns: the timer is relayed and the PK ends.
        down.store(false, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut p = json!({});
        while std::time::Instant::now() < deadline {
            p = app.get(&format!("/api/rooms/{room}/pk"), &ch).await.1;
            if p["status"] == "ended" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(p["status"], "ended", "{set:?} {p}");
    }
}
