//! The wallet writer's set-based batch: every write of a batch is answered on its own, in batch
//! order, against its user's running balance; and two writers on one database (two nodes)
//! never lose an update or overdraw, because a batch locks the wallets it changes.

use crate::helpers::{backend_sets, spawn_app};
use liveroom::domain::money::TradeKind;
use liveroom::storage::{
    db,
    idgen::IdGen,
    wallets::{Effect, Outcome, WalletOp, Wallets},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    // SUM is NUMERIC on Postgres and DECIMAL on MySQL: callers cast `AS SIGNED` (MySQL's name;
    // Postgres calls it BIGINT) so every engine answers an integer.
    let backend = db.get_database_backend();
    let sql =
        if backend == sea_orm::DbBackend::Postgres { sql.replace("AS SIGNED", "AS BIGINT") } else { sql.to_owned() };
    let row = db.query_one(Statement::from_string(backend, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

fn op(user_id: i64, delta: i64, r#ref: &str, effect: Effect) -> WalletOp {
    let kind = if matches!(effect, Effect::ClaimPacket { .. }) { TradeKind::RedPacket } else { TradeKind::Gift };
    WalletOp::new(user_id, delta, kind, r#ref, effect)
}

#[actix_web::test]
async fn one_batch_answers_each_write_on_its_own_in_batch_order() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        app.stop().await;
        let conn = app.state.b.db.clone();
        conn.execute_unprepared("INSERT INTO wallets (user_id, balance, updated_at) VALUES (901, 10, 0), (902, 0, 0)")
            .await
            .unwrap();
        conn.execute_unprepared(
            "INSERT INTO red_packets (id, rain_id, amount, user_id, refunded) VALUES \
             (71, 1, 3, NULL, false), (72, 1, 3, 902, false), (73, 1, 3, NULL, true)",
        )
        .await
        .unwrap();
        // A long gathering wait, so every write below lands in one batch.
        let w = Wallets::start(
            conn.clone(),
            IdGen::new(conn.clone(), 100),
            64,
            Duration::from_millis(300),
            Duration::from_secs(30),
        );
        let ops = vec![
            op(901, -4, "a", Effect::None),                            // 10 → 6
            op(901, -7, "b", Effect::None),                            // 6 does not cover 7
            op(901, -6, "c", Effect::None),                            // 6 → 0
            op(901, 5, "d", Effect::None),                             // 0 → 5
            op(901, -4, "a", Effect::None),                            // "a" again: its first answer
            op(902, 3, "p71", Effect::ClaimPacket { packet_id: 71 }),  // free: claimed, 0 → 3
            op(902, 3, "p71b", Effect::ClaimPacket { packet_id: 71 }), // claimed just above
            op(902, 3, "p72", Effect::ClaimPacket { packet_id: 72 }),  // claimed before
            op(902, 3, "p73", Effect::ClaimPacket { packet_id: 73 }),  // refunded
            op(903, 5, "e", Effect::None),                             // no wallet
        ];
        let order = Arc::new(Mutex::new(Vec::new()));
        // join_all polls in order, so the writes reach the writer's queue in this order.
        let outcomes =
            futures_util::future::join_all(ops.into_iter().enumerate().map(|(i, o)| {
                let order = order.clone();
                let w = w.clone();
                async move {
                    w.apply_then(o, Some(Box::new(move |_: &Outcome| order.lock().unwrap().push(i)))).await.unwrap()
                }
            }))
            .await;
        let done = |o: &Outcome| match o {
            Outcome::Done { trade_id, balance, .. } => (*trade_id, *balance),
            other => panic!("{set:?}: {other:?}"),
        };
        let (a_trade, a_balance) = done(&outcomes[0]);
        assert_eq!(a_balance, 6, "{set:?}");
        assert_eq!(outcomes[1], Outcome::Insufficient, "{set:?}");
        assert_eq!(done(&outcomes[2]).1, 0, "{set:?}");
        assert_eq!(done(&outcomes[3]).1, 5, "{set:?}");
        assert_eq!(outcomes[4], Outcome::Duplicate { trade_id: a_trade, balance: 6 }, "{set:?}");
        assert_eq!(done(&outcomes[5]).1, 3, "{set:?}");
        assert_eq!(outcomes[6], Outcome::Refused, "{set:?}");
        assert_eq!(outcomes[7], Outcome::Refused, "{set:?}");
        assert_eq!(outcomes[8], Outcome::Refused, "{set:?}");
        assert_eq!(outcomes[9], Outcome::Insufficient, "{set:?}");
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>(), "{set:?}: effects run in batch order");
        // What is stored matches the answers: balances, one trade per applied write, the claim.
        assert_eq!(scalar(&conn, "SELECT balance FROM wallets WHERE user_id = 901").await, 5, "{set:?}");
        assert_eq!(scalar(&conn, "SELECT balance FROM wallets WHERE user_id = 902").await, 3, "{set:?}");
        assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM trades").await, 4, "{set:?}");
        assert_eq!(
            scalar(&conn, "SELECT CAST(SUM(amount) AS SIGNED) FROM trades WHERE user_id = 901").await,
            -5,
            "{set:?}"
        );
        assert_eq!(scalar(&conn, "SELECT user_id FROM red_packets WHERE id = 71").await, 902, "{set:?}");
        assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM red_packets WHERE user_id IS NULL").await, 1, "{set:?}");
        // The same write again later is answered from the stored trade.
        let again = w.apply(op(901, -4, "a", Effect::None)).await.unwrap();
        assert_eq!(again, Outcome::Duplicate { trade_id: a_trade, balance: 6 }, "{set:?}");
    }
}

const USERS: i64 = 20;
const START: i64 = 300;

#[actix_web::test]
async fn two_writers_on_one_database_never_lose_an_update_or_overdraw() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        app.stop().await;
        let first = app.state.b.db.clone();
        let values: Vec<String> = (1..=USERS).map(|u| format!("({u}, {START}, 0)")).collect();
        first
            .execute_unprepared(&format!(
                "INSERT INTO wallets (user_id, balance, updated_at) VALUES {}",
                values.join(",")
            ))
            .await
            .unwrap();
        // Two pools and two writers on one database, as two nodes would have.
        let second = db::connect(&app.storage.database_url, 8).await.unwrap();
        let writers: Vec<Wallets> = [first.clone(), second.clone()]
            .into_iter()
            .map(|c| {
                Wallets::start(c.clone(), IdGen::new(c, 1000), 64, Duration::from_micros(500), Duration::from_secs(30))
            })
            .collect();
        // 2 writers × 16 tasks × 40 debits over 20 users of 300 coins each; every third debit
        // asks 50, the others 1–2: about 24,000 coins asked of 6,000, so balances run out and
        // many debits must be refused.
        let mut tasks = Vec::new();
        for (wi, w) in writers.iter().enumerate() {
            for t in 0..16i64 {
                let w = w.clone();
                tasks.push(actix_web::rt::spawn(async move {
                    let mut spent = 0;
                    for i in 0..40i64 {
                        let user = (t * 7 + i) % USERS + 1;
                        let amount = if i % 3 == 0 { 50 } else { 1 + i % 3 };
                        let r = format!("w{wi}t{t}i{i}");
                        match w.apply(op(user, -amount, &r, Effect::None)).await.unwrap() {
                            Outcome::Done { balance, .. } => {
                                assert!(balance >= 0);
                                spent += amount;
                            }
                            Outcome::Insufficient => {}
                            other => panic!("{other:?}"),
                        }
                    }
                    spent
                }));
            }
        }
        let mut spent = 0;
        for t in tasks {
            spent += t.await.unwrap();
        }
        let left = scalar(&first, "SELECT CAST(SUM(balance) AS SIGNED) FROM wallets").await;
        let traded = scalar(&first, "SELECT CAST(SUM(amount) AS SIGNED) FROM trades").await;
        assert_eq!(left, USERS * START - spent, "{set:?}: every answered debit is in the balances, once");
        assert_eq!(traded, -spent, "{set:?}: one trade per answered debit");
        assert_eq!(scalar(&first, "SELECT COUNT(*) FROM wallets WHERE balance < 0").await, 0, "{set:?}");
        // Each user's stored balance is their start plus their trades.
        for u in 1..=USERS {
            let stored = scalar(&first, &format!("SELECT balance FROM wallets WHERE user_id = {u}")).await;
            let sum = scalar(
                &first,
                &format!("SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM trades WHERE user_id = {u}"),
            )
            .await;
            assert_eq!(stored, START + sum, "{set:?}: user {u}");
        }
        eprintln!("{set:?}: spent {spent} of {}", USERS * START);
        second.close().await.unwrap();
    }
}

/// A gift commits only while its room is live: the batch reads its rooms under a shared lock,
/// so a close (on any node) and a gift are ordered by the database, and a gift to a closed
/// room is refused with its balance untouched.
#[actix_web::test]
async fn a_gift_commits_only_while_its_room_is_live() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        app.stop().await;
        let conn = app.state.b.db.clone();
        conn.execute_unprepared("INSERT INTO wallets (user_id, balance, updated_at) VALUES (905, 100, 0)")
            .await
            .unwrap();
        conn.execute_unprepared(
            "INSERT INTO rooms (id, anchor_id, title, kind, status, slow_mode_s, started_at, closed_at) VALUES \
             (81, 1, 'open', 'normal', 'live', 0, 0, NULL), (82, 2, 'shut', 'normal', 'closed', 0, 0, 5)",
        )
        .await
        .unwrap();
        let w = Wallets::start(
            conn.clone(),
            IdGen::new(conn.clone(), 100),
            64,
            Duration::from_millis(100),
            Duration::from_secs(30),
        );
        let gift = |room_id: i64, r: &str| {
            op(905, -10, r, Effect::GiftSend { room_id, to_id: 1, gift_id: 2, count: 1, pk_id: None })
        };
        let (live, closed) = futures_util::future::join(w.apply(gift(81, "g81")), w.apply(gift(82, "g82"))).await;
        assert!(matches!(live.unwrap(), Outcome::Done { balance: 90, .. }), "{set:?}");
        assert_eq!(closed.unwrap(), Outcome::Refused, "{set:?}");
        assert_eq!(scalar(&conn, "SELECT balance FROM wallets WHERE user_id = 905").await, 90, "{set:?}");
        assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM gift_sends WHERE room_id = 82").await, 0, "{set:?}");
    }
}
