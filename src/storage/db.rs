//! SQL connection: SQLite (WAL, busy timeout, file under `data/`), Postgres or MySQL/MariaDB,
//! chosen by `database.url`; the pool's size by engine, session settings on every pooled
//! connection; migrations run here at start-up.

use super::health::{Backend, BackendHealth};
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr, SqlxMySqlConnector};
use std::time::Duration;

/// The `sql_mode` of every MySQL/MariaDB session: strict, so a value that does not fit is an
/// error rather than a warning and a silently clipped amount.
pub const MYSQL_SQL_MODE: &str = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION";

/// SQLite pools never grow past this: one writer at a time, so more connections only wait on
/// the write lock (and each is a thread of its own in sqlx).
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// Postgres/MySQL pools sized by default never grow past this: a few app nodes must still fit
/// under the server's own limit (Postgres allows 100 by default).
const SERVER_DEFAULT_CAP: u32 = 32;

/// The engine `url` names (sea-orm's spelling of it).
pub fn backend_of(url: &str) -> DbBackend {
    if url.starts_with("sqlite:") {
        DbBackend::Sqlite
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        DbBackend::MySql
    } else {
        DbBackend::Postgres
    }
}

/// Pool size when `database.max_connections` is 0, for an app host with `cores` cores.
///
/// SQLite: one writer at a time whatever the pool, and reads run on this host's cores, so one
/// connection per core for readers, one for the wallet writer and one for the other writers
/// (orders, outbox, delay queue): 4 on 2 cores, never past 8.
///
/// Postgres/MySQL: about two statements per core keep a server busy (one running, one waiting
/// for its commit to flush), plus one the wallet writer holds through each batch (it must not
/// queue behind requests) and three for the loops beside requests (outbox relay, delay-queue
/// poller, sweeps and id segments, the health probe): 8 on 2 cores, never past 32. The server's
/// cores are not known here; a bigger database server wants an explicit `max_connections`.
pub fn default_max_connections(backend: DbBackend, cores: usize) -> u32 {
    let cores = u32::try_from(cores.max(1)).unwrap_or(u32::MAX);
    match backend {
        DbBackend::Sqlite => cores.saturating_add(2).min(SQLITE_MAX_CONNECTIONS),
        _ => cores.saturating_mul(2).saturating_add(4).min(SERVER_DEFAULT_CAP),
    }
}

/// The pool size for `url` given `database.max_connections` (0: by engine, on this host).
pub fn pool_size(url: &str, max_connections: u32) -> u32 {
    let backend = backend_of(url);
    let n = if max_connections == 0 {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        default_max_connections(backend, cores)
    } else {
        max_connections
    };
    if backend == DbBackend::Sqlite {
        n.min(SQLITE_MAX_CONNECTIONS)
    } else {
        n
    }
}

/// Connects with a 5 s connect bound and a 10 s wait for a pooled connection (tools, benches).
/// `max_connections` 0 sizes the pool by engine (`pool_size`).
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
    let size = pool_size(url, max_connections);
    tracing::info!(connections = size, "database pool");
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(size)
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
    let db = if backend_of(url) == DbBackend::MySql {
        connect_mysql(opts.clone()).await?
    } else {
        Database::connect(opts.clone()).await?
    };
    if is_sqlite {
        // One process owns an SQLite file (the key-value file beside it is locked).
        migration::Migrator::up(&db, None).await?;
    } else {
        let mut one = opts;
        one.max_connections(1).min_connections(1);
        let conn = if backend_of(url) == DbBackend::MySql {
            connect_mysql(one).await?
        } else {
            Database::connect(one).await?
        };
        let migrated = migrate_locked(&conn).await;
        let _ = conn.close().await;
        migrated?;
    }
    Ok(db)
}

/// Runs the migrations holding the database's own lock, on `one` (a pool of one connection, so
/// the lock, the migrations and the unlock share a session): nodes of a cluster started at the
/// same moment on an empty database take turns, and each after the first finds nothing to do.
/// Postgres advisory locks are per database; MySQL's named locks are per server, so the name
/// carries the database's.
async fn migrate_locked(one: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::ConnectionTrait;
    let (lock, unlock) = match one.get_database_backend() {
        DbBackend::Postgres => ("SELECT pg_advisory_lock(7291300417)", "SELECT pg_advisory_unlock(7291300417)"),
        _ => (
            "SELECT GET_LOCK(CONCAT('liveroom_migrate:', DATABASE()), 600)",
            "SELECT RELEASE_LOCK(CONCAT('liveroom_migrate:', DATABASE()))",
        ),
    };
    let got = one.query_one(sea_orm::Statement::from_string(one.get_database_backend(), lock)).await?;
    if one.get_database_backend() == DbBackend::MySql && got.and_then(|r| r.try_get_by_index::<i64>(0).ok()) != Some(1)
    {
        return Err(DbErr::Custom("migrations: another node held the migration lock for 10 minutes".into()));
    }
    let migrated = migration::Migrator::up(one, None).await;
    // Closing the session releases the lock too; unlocking first lets the next node go at once.
    let unlocked = one.execute_unprepared(unlock).await;
    migrated?;
    unlocked.map(|_| ())
}

/// A MySQL/MariaDB pool whose every connection, new or replaced, runs `SET SESSION sql_mode`
/// before first use. A `SET` after the pool opens reaches only the connection that ran it;
/// sea-orm 1.x has no per-connection hook for MySQL, so the pool is built with sqlx's
/// `after_connect` from sea-orm's own pool options and handed back to sea-orm. (sqlx itself
/// sets `time_zone` and `NAMES` on each connection; it can only add to `sql_mode`.)
async fn connect_mysql(opts: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    use sea_orm::sqlx::{self, mysql::MySqlConnectOptions, ConnectOptions as _, Executor as _};
    let conn_err = |e: sqlx::Error| DbErr::Conn(RuntimeErr::SqlxError(e));
    let connect = opts.get_url().parse::<MySqlConnectOptions>().map_err(conn_err)?.disable_statement_logging();
    let pool = opts
        .sqlx_pool_options::<sqlx::MySql>()
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(format!("SET SESSION sql_mode = '{MYSQL_SQL_MODE}'").as_str()).await.map(|_| ())
            })
        })
        .connect_with(connect)
        .await
        .map_err(conn_err)?;
    Ok(SqlxMySqlConnector::from_sqlx_mysql_pool(pool))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_sized_by_default_depends_on_the_engine() {
        // On this project's 2-core hosts.
        assert_eq!(default_max_connections(DbBackend::Sqlite, 2), 4);
        assert_eq!(default_max_connections(DbBackend::Postgres, 2), 8);
        assert_eq!(default_max_connections(DbBackend::MySql, 2), 8);
        // It grows with the cores, within bounds.
        assert_eq!(default_max_connections(DbBackend::Sqlite, 1), 3);
        assert_eq!(default_max_connections(DbBackend::Sqlite, 64), SQLITE_MAX_CONNECTIONS);
        assert_eq!(default_max_connections(DbBackend::Postgres, 8), 20);
        assert_eq!(default_max_connections(DbBackend::Postgres, 64), SERVER_DEFAULT_CAP);
        assert_eq!(default_max_connections(DbBackend::MySql, 0), 6);
    }

    #[test]
    fn zero_means_by_engine_and_an_explicit_size_is_kept() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        for (url, backend) in [
            ("sqlite://data/x.db?mode=rwc", DbBackend::Sqlite),
            ("sqlite::memory:", DbBackend::Sqlite),
            ("postgres://u@h/db", DbBackend::Postgres),
            ("postgresql://u@h/db", DbBackend::Postgres),
            ("mysql://u@h/db", DbBackend::MySql),
        ] {
            assert_eq!(backend_of(url), backend, "{url}");
            assert_eq!(pool_size(url, 0), default_max_connections(backend, cores), "{url}");
            assert_eq!(pool_size(url, 5), 5, "{url}");
        }
        assert_eq!(pool_size("postgres://u@h/db", 100), 100);
        assert_eq!(pool_size("sqlite://x.db", 100), SQLITE_MAX_CONNECTIONS, "SQLite stays capped");
    }
}
