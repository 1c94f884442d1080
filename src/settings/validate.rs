//! Settings checked at start-up: a value that would only fail later is refused now, naming its
//! key.

use super::{Settings, SettingsError};

/// The refusal of `key`, saying why.
fn bad(key: &str, why: &str) -> Result<(), SettingsError> {
    Err(SettingsError(format!("`{key}` {why}")))
}

impl Settings {
    /// Rejects values that would only fail later, naming the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
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
