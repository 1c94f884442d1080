//! Layered settings: `config/default.toml`, `config/{LIVEROOM_ENV}.toml`, then
//! `LIVEROOM__SECTION__KEY` environment variables. Key names are a public interface.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kv: KvSettings,
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    pub room: RoomSettings,
    pub pk: PkSettings,
    pub rain: RainSettings,
    pub commerce: CommerceSettings,
    pub notice: NoticeSettings,
    pub wallet: WalletSettings,
    pub payments: PaymentSettings,
    pub limits: LimitSettings,
    pub backends: BackendSettings,
    pub metrics: MetricsSettings,
    pub cluster: ClusterSettings,
    /// The deployment this runs as (`LIVEROOM_ENV`; unset means `dev`). Not a key: it picks
    /// the overlay file, and outside dev it refuses the providers that give things away.
    #[serde(skip, default = "env_from_process")]
    pub env: String,
}

/// `LIVEROOM_ENV`, or `dev` when it is unset or empty.
pub fn env_from_process() -> String {
    std::env::var("LIVEROOM_ENV").ok().filter(|e| !e.trim().is_empty()).unwrap_or_else(|| "dev".into())
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub static_dir: String,
    pub cors_origins: Vec<String>,
    pub public_url: String,
    pub shutdown_timeout_s: u64,
    /// 0: one worker per core.
    pub workers: usize,
    /// Header a trusted reverse proxy puts the client's address in (e.g. `X-Forwarded-For`,
    /// `X-Real-IP`); empty: the peer address of the connection. Only set it behind a proxy that
    /// overwrites or appends it, or clients choose their own address.
    pub trusted_proxy_header: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    /// Pool size; 0: by engine and cores (`storage::db::default_max_connections`).
    pub max_connections: u32,
    /// Longest wait for a pooled connection (Postgres/MySQL) before a request answers 503: load
    /// queues here; an outage is caught sooner by the health tracker.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    /// Every key starts with this, so several deployments (or tests) share one Redis.
    pub prefix: String,
}

/// The embedded key-value store, used when `redis.url` is empty.
#[derive(Debug, Clone, Deserialize)]
pub struct KvSettings {
    /// The redb file. Empty: beside an SQLite database file, same name with `.kv`
    /// (`data/liveroom.db` → `data/liveroom.kv`), else `data/liveroom.kv`. `:memory:`: in
    /// memory only (nothing survives a restart).
    pub path: String,
}

/// Running as one of several nodes (`docs/cluster.md`).
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterSettings {
    pub enabled: bool,
    /// This node's name; empty in the files means one generated at load (so never empty after).
    pub node_id: String,
    /// How often this node renews its membership.
    pub renew_ms: u64,
    /// A node that has not renewed for this long is gone.
    pub expire_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: String,
    /// Queue names start with this, so several deployments (or tests) share one broker.
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub admin_phones: Vec<String>,
    pub sms_provider: String,
    pub code_ttl_s: u64,
    pub resend_after_s: u64,
    pub max_wrong_codes: u64,
    pub wrong_code_window_s: u64,
    pub token_ttl_s: u64,
    pub cookie_secure: bool,
    /// Login codes one client address may ask for per hour (SMS pumping); 0: no limit.
    pub sms_per_ip_per_hour: u64,
    /// Login attempts one client address may make per minute; 0: no limit.
    pub login_per_ip_per_minute: u64,
}

fn default_batch_max_ms() -> u64 {
    50
}

fn default_kick_s() -> u64 {
    600
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoomSettings {
    pub heartbeat_timeout_s: u64,
    pub ticket_ttl_s: u64,
    /// How long a kicked user stays out of the room (`/im` answers 403 `kicked`).
    #[serde(default = "default_kick_s")]
    pub kick_s: u64,
    pub queue_size: usize,
    /// The longest a room holds frames that come fast to send them together (see
    /// `actors::room::batch`); the window is 10 µs per socket up to this. 0: every frame at once.
    #[serde(default = "default_batch_max_ms")]
    pub batch_max_ms: u64,
    pub history_size: usize,
    pub recent_chats: usize,
    pub chat_per_second: u32,
    pub word_filter: Vec<String>,
    /// 0: one arbiter per core.
    pub arbiters: usize,
    /// A write to a socket (or any response) that makes no progress for this long drops the
    /// connection: a client that stops reading does not keep its socket.
    pub write_timeout_s: u64,
    /// Each socket's frame budget: a steady rate and a burst. Frames past it are dropped with
    /// `error rate_limited`; a socket that goes on past twice the burst is closed with 1008.
    pub client_frames_per_second: u32,
    pub client_frames_burst: u32,
    /// Open sockets one user may hold in one room, and in all, on this node (429 past them).
    pub max_sockets_per_user_per_room: usize,
    pub max_sockets_per_user: usize,
    /// `/im` tickets one user may ask for per minute (429 past it).
    pub im_per_minute: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PkSettings {
    pub duration_s: u64,
    /// Coins that move the bar one point (a PK keeps the value it started with).
    pub coins_per_point: i64,
    /// How often running PKs are checked for an end that is overdue or a room that closed.
    pub sweep_interval_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RainSettings {
    pub duration_s: u64,
    /// How often rains are checked for one a crash or a failed close left behind.
    pub sweep_interval_s: u64,
    /// A rain still `preparing` after this long lost its prepare (a crash or an error between
    /// its row and its debit) and is settled by the sweep.
    pub preparing_timeout_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommerceSettings {
    pub order_expiry_s: u64,
    pub cart_ttl_s: u64,
    /// Units of one product a user may hold in pending (unpaid, unexpired) orders, so one
    /// account cannot hold a whole flash sale.
    pub max_pending_units_per_product: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NoticeSettings {
    pub retry_after_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletSettings {
    pub batch_max: usize,
    pub batch_wait_us: u64,
    /// The platform's share, in percent, of what gifts and orders pay an anchor; the rest is
    /// credited to the anchor's income in the same transaction as the buyer's debit.
    pub platform_share_pct: u8,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub notify_secret: String,
    /// `dev`: recharges are paid at once; `external`: they stay pending until the provider's
    /// signed notify arrives.
    pub provider: String,
}

impl PaymentSettings {
    pub fn settles_at_once(&self) -> bool {
        self.provider == "dev"
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BackendSettings {
    /// Bound on one call to the SQL database, Redis or RabbitMQ (and on connecting to it): past
    /// it the request answers 503 with Retry-After.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Empty: `/metrics` is served on the public port; `host:port`: only on that address
    /// (e.g. `127.0.0.1:9100`), and not on the public port.
    pub listen: String,
    /// Non-empty: `/metrics` needs `Authorization: Bearer <token>`.
    pub token: String,
}

/// Why settings could not be loaded; the message names the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct SettingsError(String);

impl Settings {
    /// The longest the wallet writer spends on one batch: a pooled connection's wait, then the
    /// batch itself (a database that stops answering mid-batch cannot hold the writer).
    pub fn wallet_batch_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.database.acquire_timeout_ms + self.backends.timeout_ms)
    }

    /// The longest an API request may take: the wallet batch it may wait for, plus one more
    /// backend bound, so the writer answers before the request gives up.
    pub fn request_deadline(&self) -> std::time::Duration {
        self.wallet_batch_deadline() + std::time::Duration::from_millis(self.backends.timeout_ms)
    }

    /// Loads settings from `dir` (normally `config/`), the `LIVEROOM_ENV` overlay and the
    /// environment. Falls back to the compiled-in defaults when `dir` has no default file, so the
    /// binary also starts outside the source tree.
    pub fn load_from(dir: &Path) -> Result<Self, SettingsError> {
        Self::load_with(dir, &env_from_process(), &[])
    }

    /// As `load_from`, as deployment `env`, with `overrides` (`("section.key", value)`) applied
    /// last. Tests use it to load another deployment's settings without touching the process
    /// environment.
    pub fn load_with(dir: &Path, env: &str, overrides: &[(&str, &str)]) -> Result<Self, SettingsError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        builder = builder
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(config::File::from(dir.join(format!("{env}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("LIVEROOM")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("auth.admin_phones")
                    .with_list_parse_key("server.cors_origins")
                    .with_list_parse_key("room.word_filter")
                    .try_parsing(true),
            );
        for (key, value) in overrides {
            builder = builder.set_override(*key, *value).map_err(|e| SettingsError(e.to_string()))?;
        }
        let cfg = builder.build().map_err(|e| SettingsError(e.to_string()))?;
        let mut settings: Settings = cfg.try_deserialize().map_err(|e| SettingsError(e.to_string()))?;
        settings.env = env.to_owned();
        if settings.cluster.node_id.is_empty() {
            settings.cluster.node_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Whether this is a development or test deployment (`LIVEROOM_ENV` unset, `dev` or
    /// `test`): only there may the dev payment and SMS providers run.
    pub fn is_dev(&self) -> bool {
        matches!(self.env.as_str(), "dev" | "test")
    }

    /// Loads from `./config` (the usual case).
    pub fn load() -> Result<Self, SettingsError> {
        Self::load_from(Path::new("config"))
    }

    /// Rejects values that would only fail later, naming the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, why: &str| Err(SettingsError(format!("`{key}` {why}")));
        if self.database.url.is_empty() {
            return bad("database.url", "must not be empty");
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres") || db.starts_with("mysql:")) {
            return bad("database.url", "must start with sqlite:, postgres:// or mysql://");
        }
        if !self.redis.url.is_empty() && !self.redis.url.starts_with("redis") {
            return bad("redis.url", "must be empty or a redis:// URL");
        }
        if !self.amqp.url.is_empty() && !self.amqp.url.starts_with("amqp") {
            return bad("amqp.url", "must be empty or an amqp:// URL");
        }
        if self.payments.notify_secret.is_empty() {
            return bad("payments.notify_secret", "must be set (no default outside dev)");
        }
        if !matches!(self.payments.provider.as_str(), "dev" | "external") {
            return bad("payments.provider", "must be dev or external");
        }
        if !matches!(self.auth.sms_provider.as_str(), "dev" | "none") {
            return bad("auth.sms_provider", "must be dev or none");
        }
        if !self.is_dev() {
            let env = &self.env;
            if self.payments.provider == "dev" {
                return bad(
                    "payments.provider",
                    &format!(
                        "is dev, which credits recharges without any payment; it is refused when \
                         LIVEROOM_ENV is {env:?} (allowed only in dev or test): set it to external"
                    ),
                );
            }
            if self.auth.sms_provider == "dev" {
                return bad(
                    "auth.sms_provider",
                    &format!(
                        "is dev, which answers every phone's login code (1000); it is refused when \
                         LIVEROOM_ENV is {env:?} (allowed only in dev or test)"
                    ),
                );
            }
        }
        if self.server.trusted_proxy_header.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
            return bad("server.trusted_proxy_header", "must be empty or a header name");
        }
        if self.room.queue_size == 0 {
            return bad("room.queue_size", "must be at least 1");
        }
        if self.room.history_size < 200 {
            return bad("room.history_size", "must be at least 200");
        }
        if self.room.heartbeat_timeout_s == 0 {
            return bad("room.heartbeat_timeout_s", "must be at least 1");
        }
        if self.pk.coins_per_point < 1 {
            return bad("pk.coins_per_point", "must be at least 1");
        }
        if self.pk.sweep_interval_s == 0 {
            return bad("pk.sweep_interval_s", "must be at least 1");
        }
        if self.rain.sweep_interval_s == 0 {
            return bad("rain.sweep_interval_s", "must be at least 1");
        }
        if self.rain.preparing_timeout_s == 0 {
            return bad("rain.preparing_timeout_s", "must be at least 1");
        }
        if self.commerce.max_pending_units_per_product < 1 {
            return bad("commerce.max_pending_units_per_product", "must be at least 1");
        }
        if self.room.write_timeout_s == 0 {
            return bad("room.write_timeout_s", "must be at least 1");
        }
        if self.room.client_frames_per_second == 0 || self.room.client_frames_burst == 0 {
            return bad("room.client_frames_per_second", "the frame rate and burst must be at least 1");
        }
        if self.room.max_sockets_per_user_per_room == 0 || self.room.max_sockets_per_user == 0 {
            return bad("room.max_sockets_per_user", "socket caps must be at least 1");
        }
        if self.room.im_per_minute == 0 {
            return bad("room.im_per_minute", "must be at least 1");
        }
        if self.wallet.batch_max == 0 {
            return bad("wallet.batch_max", "must be at least 1");
        }
        if self.wallet.platform_share_pct > 100 {
            return bad("wallet.platform_share_pct", "must be 0 to 100");
        }
        if self.backends.timeout_ms == 0 {
            return bad("backends.timeout_ms", "must be at least 1");
        }
        if !self.metrics.listen.is_empty() && self.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("metrics.listen", "must be empty or host:port such as 127.0.0.1:9100");
        }
        self.validate_cluster()?;
        for p in &self.auth.admin_phones {
            if crate::domain::user::Phone::parse(p).is_err() {
                return bad("auth.admin_phones", "holds a value that is not a phone number");
            }
        }
        Ok(())
    }

    /// A cluster shares everything a node keeps beyond its sockets: the embedded backends are
    /// one process's files and memory, so they are refused by name.
    fn validate_cluster(&self) -> Result<(), SettingsError> {
        let c = &self.cluster;
        let bad = |key: &str, why: &str| Err(SettingsError(format!("`{key}` {why}")));
        let id_ok = |id: &str| {
            (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !c.node_id.is_empty() && !id_ok(&c.node_id) {
            return bad("cluster.node_id", "must be 1 to 32 letters, digits, - or _");
        }
        if c.renew_ms < 50 {
            return bad("cluster.renew_ms", "must be at least 50");
        }
        if c.expire_ms < 2 * c.renew_ms {
            return bad("cluster.expire_ms", "must be at least twice cluster.renew_ms");
        }
        if !c.enabled {
            return Ok(());
        }
        if self.database.url.starts_with("sqlite:") {
            return bad(
                "database.url",
                "is SQLite, one process's file: a cluster (cluster.enabled) needs a shared \
                 postgres:// or mysql:// database",
            );
        }
        if self.redis.url.is_empty() {
            return bad(
                "redis.url",
                "must be set when cluster.enabled: without it sessions, tickets and carts stay in \
                 one node's embedded or in-memory store",
            );
        }
        if self.amqp.url.is_empty() {
            return bad(
                "amqp.url",
                "must be set when cluster.enabled: timers (PK and rain ends, order expiry) run \
                 from RabbitMQ, on whichever node is alive",
            );
        }
        Ok(())
    }
}

/// Compiled-in copy of `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
