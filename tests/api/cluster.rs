//! Several nodes on shared backends (issue 12): settings, start-up, membership.

use crate::helpers::*;
use liveroom::settings::Settings;
use liveroom::storage::Backends;

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

#[test]
fn a_cluster_node_refuses_the_embedded_backends_by_name() {
    let on = ("cluster.enabled", "true");
    let pg = ("database.url", "postgres://postgres@127.0.0.1/test");
    let redis = ("redis.url", "redis://127.0.0.1:6379");
    let amqp = ("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let refused =
        |overrides: &[(&str, &str)]| Settings::load_with(&config_dir(), "dev", overrides).unwrap_err().to_string();

    let e = refused(&[on, redis, amqp]);
    assert!(e.contains("database.url") && e.contains("SQLite"), "the default SQLite file: {e}");
    let e = refused(&[on, pg, amqp]);
    assert!(e.contains("redis.url"), "no Redis: {e}");
    let e = refused(&[on, pg, redis]);
    assert!(e.contains("amqp.url"), "no RabbitMQ: {e}");
    let e = refused(&[on, pg, redis, amqp, ("cluster.expire_ms", "1500")]);
    assert!(e.contains("cluster.expire_ms"), "{e}");
    let e = refused(&[on, pg, redis, amqp, ("cluster.node_id", "a b")]);
    assert!(e.contains("cluster.node_id"), "{e}");

    let s = Settings::load_with(&config_dir(), "dev", &[on, pg, redis, amqp]).expect("a complete cluster node loads");
    assert!(s.cluster.enabled);
    let other = Settings::load_with(&config_dir(), "dev", &[on, pg, redis, amqp]).unwrap();
    assert_eq!(s.cluster.node_id.len(), 12, "generated: {}", s.cluster.node_id);
    assert_ne!(s.cluster.node_id, other.cluster.node_id, "each start names itself afresh");
    let named =
        Settings::load_with(&config_dir(), "dev", &[on, pg, redis, amqp, ("cluster.node_id", "node-a")]).unwrap();
    assert_eq!(named.cluster.node_id, "node-a");
    // The single-node default stays as it was.
    let single = Settings::load_with(&config_dir(), "dev", &[]).unwrap();
    assert!(!single.cluster.enabled);
}

#[actix_web::test]
async fn three_nodes_started_at_once_on_an_empty_database_all_migrate_and_start() {
    for set in backend_sets() {
        if set == BackendSet::Embedded {
            continue; // one process owns an SQLite file
        }
        let storage = Storage::fresh(set).await;
        let s = storage.settings();
        let started = futures_util::future::join_all((0..3).map(|_| Backends::connect(&s))).await;
        for (i, b) in started.into_iter().enumerate() {
            let b = b.unwrap_or_else(|e| panic!("{set:?}: node {i} did not start: {e}"));
            b.outbox.stop();
            b.queue.stop();
        }
        storage.cleanup().await;
    }
}
