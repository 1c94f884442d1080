//! SQL connection: SQLite (WAL, busy timeout, file under `data/`), Postgres or MySQL/MariaDB,
//! chosen by `database.url`; migrations run here at start-up.

use super::health::{Backend, BackendHealth};
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use std::time::Duration;

/// Connects with a 5 s connect bound and a 10 s wait for a pooled connection (tools, benches).
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_bounded(url, max_connections, Duration::from_secs(5), Duration::from_secs(10)).await
}

/// Connects for the app. A server that is gone refuses or drops connections: the failure marks
/// the database down in `health`, and from then on requests answer 503 at once while it is
/// probed with `SELECT 1`. Waiting for a pooled connection is bounded by `acquire_timeout`,
/// apart from `health`'s per-call bound: under a burst (a flash sale's thousand orders on a
/// pool of 16) a healthy database makes requests queue for longer than one call should take,
/// and that queueing is load, not an outage. Pooled connections are tested before use, so the
/// first query after the server returns does not meet a dead connection.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    health: &BackendHealth,
) -> Result<DatabaseConnection, DbErr> {
    let bound = health.timeout();
    let db = if url.starts_with("sqlite:") {
        // A file cannot go away like a server; waiting for a pooled connection there only means
        // contention (one writer), which must queue, not answer 503.
        connect(url, max_connections).await?
    } else {
        // Start-up migrations may wait longer than one request should.
        connect_bounded(url, max_connections, bound.max(Duration::from_secs(5)), acquire_timeout.max(bound)).await?
    };
    let probe_db = db.clone();
    health.set_probe(
        Backend::Sql,
        std::sync::Arc::new(move || {
            let db = probe_db.clone();
            Box::pin(async move { db.ping().await.map_err(|e| e.to_string()) })
        }),
    );
    Ok(db)
}

async fn connect_bounded(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite {
        ensure_sqlite_dir(url);
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(if is_sqlite { max_connections.min(8) } else { max_connections })
        .min_connections(1)
        .connect_timeout(connect_timeout)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(true)
        .sqlx_logging(false);
    if is_sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DbBackend::MySql {
        db.execute_unprepared("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'").await?;
    }
    migration::Migrator::up(&db, None).await?;
    Ok(db)
}

/// `sqlite://data/liveroom.db?mode=rwc` needs `data/` to exist.
fn ensure_sqlite_dir(url: &str) {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
}
