//! HTTP: routes by area, extractors, auth, limits, errors, the WebSocket task, static files.

pub mod auth;
pub mod commerce;
pub mod error;
pub mod extract;
pub mod gifts;
pub mod limits;
pub mod middleware;
pub mod moderation;
pub mod openapi;
pub mod ops;
pub mod pk;
pub mod rain;
pub mod rooms;
pub mod session;
pub mod sms;
pub mod state;
pub mod views;
pub mod wallet;
pub mod ws;

use actix_web::web;
pub use error::{AppError, AppResult};
pub use state::AppState;

/// Every `/api` route, plus a JSON 404 for unknown API paths. (`/metrics` is added by
/// `startup`: on the public port or on `metrics.listen`.)
pub fn api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            // The hot paths first: routes are tried in order, each a regex match, and a gift's
            // path came after a dozen others (3 % of a gift's CPU at 4,000 gifts/s).
            .configure(gifts::routes)
            .configure(rain::routes)
            .configure(commerce::routes)
            .configure(auth::routes)
            .configure(ops::routes)
            .configure(openapi::routes)
            .configure(rooms::routes)
            .configure(moderation::routes)
            .configure(wallet::routes)
            .configure(pk::routes)
            .default_service(web::to(openapi::fallback)),
    )
    .configure(ws::routes);
}
