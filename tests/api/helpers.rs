//! `spawn_app`: the real app on a random port with its own fresh storage, and a small client.
//!
//! Every test runs against the embedded set (SQLite temp file, in-memory KV, local queue); with
//! `LIVEROOM_TEST_REAL=1` also against {Postgres, Redis, RabbitMQ} and {MariaDB, Redis,
//! RabbitMQ}. Each app gets its own database, key prefix and queue prefix, removed on drop.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use liveroom::http::AppState;
use liveroom::settings::Settings;
use liveroom::startup::{AppHandle, Application};
use liveroom::storage::{kv::RedisKv, queue::AmqpQueue, Backends};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";
/// The real Redis: `LIVEROOM_TEST_REDIS_URL` when set (several URLs, comma-separated, name a
/// Redis Cluster: `.ci/run` runs the cluster tests once against one), else the local server.
pub fn redis_url() -> String {
    std::env::var("LIVEROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendSet {
    Embedded,
    /// Postgres, Redis, RabbitMQ.
    Postgres,
    /// MariaDB, Redis, RabbitMQ.
    MySql,
}

/// The sets this run covers.
pub fn backend_sets() -> Vec<BackendSet> {
    let mut v = vec![BackendSet::Embedded];
    if std::env::var("LIVEROOM_TEST_REAL").is_ok_and(|v| v == "1") {
        v.push(BackendSet::Postgres);
        v.push(BackendSet::MySql);
    }
    v
}

/// Where one test's data lives, so a second app can be started on the same storage.
#[derive(Debug, Clone)]
pub struct Storage {
    pub set: BackendSet,
    pub database_url: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub amqp_url: String,
    pub amqp_prefix: String,
    /// Name of the per-test database on Postgres/MySQL.
    pub db_name: Option<String>,
    /// Keeps the SQLite file's directory alive.
    pub _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> String {
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

impl Storage {
    pub async fn fresh(set: BackendSet) -> Self {
        let id = unique();
        match set {
            BackendSet::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
                Storage {
                    set,
                    database_url: url,
                    redis_url: String::new(),
                    redis_prefix: String::new(),
                    amqp_url: String::new(),
                    amqp_prefix: String::new(),
                    db_name: None,
                    _dir: Some(std::sync::Arc::new(dir)),
                }
            }
            BackendSet::Postgres | BackendSet::MySql => {
                let name = format!("lrt_{id}");
                let (admin, url) = if set == BackendSet::Postgres {
                    (PG_ADMIN, format!("postgres://postgres@127.0.0.1:5432/{name}"))
                } else {
                    (MYSQL_ADMIN, format!("mysql://root@127.0.0.1:3306/{name}"))
                };
                admin_exec(admin, &format!("CREATE DATABASE {name}")).await;
                Storage {
                    set,
                    database_url: url,
                    redis_url: redis_url(),
                    redis_prefix: format!("lrt:{id}:"),
                    amqp_url: AMQP_URL.into(),
                    amqp_prefix: format!("lrt.{id}"),
                    db_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings::load_from(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config").as_path())
            .expect("default settings load");
        s.server.port = 0;
        s.server.workers = 2;
        s.server.shutdown_timeout_s = 1;
        s.server.static_dir = format!("{}/frontend", env!("CARGO_MANIFEST_DIR"));
        s.database.url = self.database_url.clone();
        // The pool the app ships with: sized by engine (4 on SQLite, 8 on a server, on 2 cores).
        s.database.max_connections = 0;
        s.redis.url = self.redis_url.clone();
        s.redis.prefix = self.redis_prefix.clone();
        s.amqp.url = self.amqp_url.clone();
        s.amqp.prefix = self.amqp_prefix.clone();
        // Every test client is 127.0.0.1 and many tests log hundreds of users in: the
        // per-address login limits are off here, and the tests of those limits turn them on.
        s.auth.sms_per_ip_per_hour = 0;
        s.auth.login_per_ip_per_minute = 0;
        s
    }

    /// Removes the database, keys and queues (called when the test ends).
    pub async fn cleanup(&self) {
        if let Some(name) = &self.db_name {
            if self.set == BackendSet::Postgres {
                admin_exec(PG_ADMIN, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            } else {
                kill_mysql_sessions(name).await;
                admin_exec(MYSQL_ADMIN, &format!("DROP DATABASE IF EXISTS {name}")).await;
            }
        }
        if self.redis_url.is_empty() {
            return;
        }
        let kv = RedisKv::connect(&self.redis_url, &self.redis_prefix).await.ok();
        let q = AmqpQueue::connect(&self.amqp_url, &self.amqp_prefix).await.ok();
        if let Some(kv) = &kv {
            let _ = kv.delete_all().await;
        }
        if let Some(q) = &q {
            let _ = q.delete_queues(&crate::helpers::QUEUE_DELAYS_USED).await;
        }
        // Sockets closing as the test ends still update presence, and a consumer that was
        // reconnecting may declare its work queue again: a second pass removes those.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Some(kv) = &kv {
            let _ = kv.delete_all().await;
        }
        if let Some(q) = &q {
            let _ = q.delete_queues(&[]).await;
        }
    }
}

/// Delays the tests schedule with, so their RabbitMQ wait queues can be deleted afterwards.
pub static QUEUE_DELAYS_USED: std::sync::LazyLock<Vec<Duration>> = std::sync::LazyLock::new(|| {
    let mut v: Vec<Duration> = (1..=100).map(|i| Duration::from_millis(i * 100)).collect();
    v.extend((11..=3600).map(Duration::from_secs));
    v
});

/// Ends every session on database `name`, as Postgres' `WITH (FORCE)` does. The app's pool is
/// driven by the test's runtime, which `Drop` blocks while it cleans up: a transaction in flight
/// there keeps its metadata lock, and `DROP DATABASE` would wait for it for ever.
async fn kill_mysql_sessions(name: &str) {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let Ok(db) = Database::connect(MYSQL_ADMIN).await else {
        return;
    };
    let sql = "SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE db = ?";
    let rows = db.query_all(Statement::from_sql_and_values(db.get_database_backend(), sql, [name.into()])).await;
    for row in rows.unwrap_or_default() {
        if let Ok(id) = row.try_get_by_index::<i64>(0) {
            let _ = db.execute_unprepared(&format!("KILL {id}")).await;
        }
    }
    let _ = db.close().await;
}

async fn admin_exec(url: &str, sql: &str) {
    use sea_orm::{ConnectionTrait, Database};
    let db = Database::connect(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = db.close().await;
}

pub struct TestApp {
    pub addr: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub state: AppState,
    pub storage: Storage,
    handle: AppHandle,
    /// Only the first app on a storage cleans it up.
    owns_storage: bool,
    /// The admin's token, once logged in (a second login within a minute gets no new code).
    admin_token: tokio::sync::OnceCell<String>,
}

pub async fn spawn_app(set: BackendSet) -> TestApp {
    spawn_app_with(set, |_| {}).await
}

pub async fn spawn_app_with(set: BackendSet, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let storage = Storage::fresh(set).await;
    start_on(storage, true, tweak, |_| {}).await
}

/// As `spawn_app_with`, and `wrap` may replace backends (a queue that fails on demand).
pub async fn spawn_app_wrapped(
    set: BackendSet,
    tweak: impl FnOnce(&mut Settings),
    wrap: impl FnOnce(&mut Backends),
) -> TestApp {
    let storage = Storage::fresh(set).await;
    start_on(storage, true, tweak, wrap).await
}

/// A second app on the same storage (restart tests); it does not clean the storage up.
pub async fn spawn_on(storage: &Storage, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    start_on(storage.clone(), false, tweak, |_| {}).await
}

async fn start_on(
    storage: Storage,
    owns: bool,
    tweak: impl FnOnce(&mut Settings),
    wrap: impl FnOnce(&mut Backends),
) -> TestApp {
    if std::env::var("LIVEROOM_TEST_LOG").is_ok() {
        liveroom::telemetry::init();
    }
    let mut s = storage.settings();
    tweak(&mut s);
    let mut backends = Backends::connect(&s).await.expect("backends connect");
    wrap(&mut backends);
    let app = Application::build_with(s, backends).await.expect("app builds");
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        addr: format!("http://127.0.0.1:{port}"),
        port,
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        state,
        storage,
        handle,
        owns_storage: owns,
        admin_token: tokio::sync::OnceCell::new(),
    }
}

impl TestApp {
    /// Stops the server (the storage stays) and its consumers.
    pub async fn stop(&self) {
        self.state.b.outbox.stop();
        self.state.b.queue.stop();
        self.handle.stop(false).await;
        // Releases the embedded key-value file, so that a second app can open it.
        self.state.b.kv.close();
    }

    /// Stops the app as SIGTERM does (`AppHandle::stop(true)`): every socket is closed with 1001
    /// first. The stop is under way when this returns; the future resolves once it is done.
    pub fn shutdown(&self) -> impl std::future::Future<Output = ()> {
        self.handle.stop(true)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.http.request(method, format!("{}{}", self.addr, path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }
    /// POST with a raw body and content type.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut r =
            self.http.post(format!("{}{}", self.addr, path)).header("content-type", "application/json").body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let res = r.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Logs `phone` in with the dev code; returns the token and the `user`.
    pub async fn login(&self, phone: &str) -> (String, Value) {
        let (s, b) = self.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": phone}))).await;
        assert!(s == 200 || s == 429, "sms: {s} {b}");
        let (s, b) =
            self.call(Method::POST, "/api/auth/login", None, Some(json!({"phone": phone, "code": "1000"}))).await;
        assert_eq!(s, 200, "login: {b}");
        (b["token"].as_str().unwrap().to_owned(), b["user"].clone())
    }

    /// The admin (phone 13141150122), logged in once per app.
    pub async fn admin(&self) -> String {
        self.admin_token.get_or_init(|| async { self.login("13141150122").await.0 }).await.clone()
    }

    /// A new user with a unique phone.
    pub async fn new_user(&self) -> (String, i64) {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 100_000_000;
        let phone = format!("139{:08}", (n * 7919 + std::process::id() as u64) % 100_000_000);
        let (t, u) = self.login(&phone).await;
        (t, u["id"].as_i64().unwrap())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.state.b.outbox.stop();
        self.state.b.queue.stop();
        // `stop` sends its command when called; its future only waits for the answer, which
        // cannot come while Drop blocks this runtime, so it is not awaited.
        drop(self.handle.stop(false));
        self.state.b.kv.close();
        if !self.owns_storage {
            return;
        }
        let storage = self.storage.clone();
        // Drop cannot await: clean up on a thread with its own runtime, and wait for it.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                storage.cleanup().await;
            });
        })
        .join();
    }
}

/// An error answer's code.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// A local port nothing listens on, for a server the test starts later. Taken below Linux's
/// ephemeral range (32768-60999): a port bound and released there can be taken meanwhile by
/// any outgoing connection of the tests running beside this one.
pub fn unused_port() -> u16 {
    use std::sync::atomic::AtomicU16;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 6_000) as u16;
    loop {
        let p = start + NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}
