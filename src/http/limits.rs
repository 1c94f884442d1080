//! Per-user rate limits over the key-value store's fixed windows.

use super::error::{AppError, AppResult};
use super::state::AppState;
use crate::domain::ratelimit::Limit;

/// Counts one action of `key`; 429 with `Retry-After` past the limit. `limits.enabled=false`
/// (load tests) turns these off.
pub async fn check(state: &AppState, key: &str, limit: Limit) -> AppResult<()> {
    if !state.settings.limits.enabled {
        return Ok(());
    }
    let (n, left) = state.b.kv.incr_window(&format!("rl:{key}"), limit.window).await?;
    if limit.allows(n) {
        Ok(())
    } else {
        Err(AppError::rate_limited(left.as_secs_f64().ceil() as u64))
    }
}
