//! Layered settings: `config/default.toml`, `config/{LIVEROOM_ENV}.toml`, then
//! `LIVEROOM__SECTION__KEY` environment variables. Key names are a public interface.

mod validate;

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

fn default_gift_combo_max_ms() -> u64 {
    50
}

fn default_gift_combo_min_viewers() -> usize {
    100
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
    /// `actors::room::batch`); the window is 5 µs per socket up to this. 0: every frame at once.
    #[serde(default = "default_batch_max_ms")]
    pub batch_max_ms: u64,
    /// The longest gift window of a busy room: its gifts wait for the window's end and go as
    /// one frame (see `actors::room::combo`); 50 µs per viewer up to this. 0: a frame per gift.
    #[serde(default = "default_gift_combo_max_ms")]
    pub gift_combo_max_ms: u64,
    /// Rooms with fewer viewers than this see a frame per gift (no combos).
    #[serde(default = "default_gift_combo_min_viewers")]
    pub gift_combo_min_viewers: usize,
    pub history_size: usize,
    pub recent_chats: usize,
    pub chat_per_second: u32,
    pub word_filter: Vec<String>,
    /// Arbiter threads for rooms, and as many again for their sockets; 0: one each per core.
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
}

/// Compiled-in copy of `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
