//! The SQL pool: every pooled MySQL/MariaDB connection runs with the app's session settings,
//! not only the one that happened to run a `SET` after the pool opened.

use crate::helpers::{backend_sets, BackendSet, Storage};
use liveroom::storage::db;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use std::collections::{BTreeSet, HashSet};

/// Connections held at once: each open transaction pins its own pooled connection.
const HELD: u32 = 4;

#[actix_web::test]
async fn every_pooled_mysql_connection_runs_in_strict_mode() {
    if !backend_sets().contains(&BackendSet::MySql) {
        eprintln!("skipped: MariaDB runs only with LIVEROOM_TEST_REAL=1");
        return;
    }
    let storage = Storage::fresh(BackendSet::MySql).await;
    let pool = db::connect(&storage.database_url, HELD).await.expect("pool opens and migrates");
    let want: BTreeSet<&str> = db::MYSQL_SQL_MODE.split(',').collect();

    let mut held = Vec::new();
    let mut ids = HashSet::new();
    for _ in 0..HELD {
        let tx = pool.begin().await.expect("a pooled connection");
        let row = tx
            .query_one(Statement::from_string(
                tx.get_database_backend(),
                "SELECT CAST(CONNECTION_ID() AS SIGNED), @@SESSION.sql_mode",
            ))
            .await
            .unwrap()
            .expect("one row");
        let id: i64 = row.try_get_by_index(0).unwrap();
        let mode: String = row.try_get_by_index(1).unwrap();
        let got: BTreeSet<&str> = mode.split(',').collect();
        assert!(got.contains("STRICT_TRANS_TABLES"), "connection {id}: sql_mode {mode}");
        assert_eq!(got, want, "connection {id}: sql_mode {mode}, the app sets {}", db::MYSQL_SQL_MODE);
        ids.insert(id);
        held.push(tx);
    }
    assert_eq!(ids.len(), HELD as usize, "each transaction held its own connection");

    for tx in held {
        tx.rollback().await.unwrap();
    }
    pool.close().await.unwrap();
    storage.cleanup().await;
}
