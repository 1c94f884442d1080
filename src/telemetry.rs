//! Logging: `tracing` to stdout, filtered by `RUST_LOG` (default `info`). lapin is silenced by
//! default: while RabbitMQ is down it writes an ERROR for every reconnect attempt, and the
//! backend health tracker already writes one line when the broker goes and one when it returns.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,lapin=off,actix_server=warn"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
