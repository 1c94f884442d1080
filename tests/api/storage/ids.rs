//! The segment id generator: two generators on one database (as two processes would be) hand
//! out disjoint ids, increasing within each caller, without wasting ranges.

use crate::helpers::{backend_sets, spawn_app};
use liveroom::storage::{db, idgen::IdGen};
use std::collections::HashSet;

const TASKS_PER_GEN: usize = 8;
const IDS_PER_TASK: usize = 10_000;
const STEP: i64 = 1000;

#[actix_web::test]
async fn two_generators_on_one_database_never_hand_out_the_same_id() {
    for set in backend_sets() {
        // The app only provides a fresh, migrated database that is removed afterwards.
        let app = spawn_app(set).await;
        app.stop().await;
        let second_pool = db::connect(&app.storage.database_url, 8).await.expect("second pool");
        let gens = [IdGen::new(app.state.b.db.clone(), STEP), IdGen::new(second_pool.clone(), STEP)];

        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for g in &gens {
            for _ in 0..TASKS_PER_GEN {
                let g = g.clone();
                tasks.push(actix_web::rt::spawn(async move {
                    let mut got = Vec::with_capacity(IDS_PER_TASK);
                    for i in 0..IDS_PER_TASK {
                        got.push(g.next("contended").await.expect("an id"));
                        // Handing out from memory never awaits: yield now and then so the
                        // tasks interleave and cross segment boundaries together.
                        if i % 100 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    got
                }));
            }
        }
        let mut all = HashSet::with_capacity(2 * TASKS_PER_GEN * IDS_PER_TASK);
        for t in tasks {
            let got = t.await.unwrap();
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{set:?}: ids increase within a task");
            all.extend(got);
        }
        let total = 2 * TASKS_PER_GEN * IDS_PER_TASK;
        assert_eq!(all.len(), total, "{set:?}: every id unique");
        // Every taken range is used up except at most one spare per generator.
        let max = *all.iter().max().unwrap();
        assert!(*all.iter().min().unwrap() >= 1, "{set:?}");
        assert!(max <= total as i64 + 2 * STEP, "{set:?}: highest id {max} wastes ranges");
        eprintln!("{set:?}: {total} ids from two generators in {:?}", started.elapsed());
        second_pool.close().await.unwrap();
    }
}
