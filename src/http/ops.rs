//! Operations: health of every backend, Prometheus metrics, the OpenAPI description.

use super::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health)).route("/openapi.json", web::get().to(openapi));
}

#[derive(Serialize, ToSchema)]
pub struct BackendHealth {
    pub kind: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub backends: BTreeMap<&'static str, BackendHealth>,
}

async fn probe<F, E>(kind: &str, f: F) -> BackendHealth
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(Duration::from_secs(2), f).await {
        Ok(Ok(())) => BackendHealth { kind: kind.into(), ok: true, error: None },
        Ok(Err(e)) => BackendHealth { kind: kind.into(), ok: false, error: Some(e.to_string()) },
        Err(_) => BackendHealth { kind: kind.into(), ok: false, error: Some("timed out".into()) },
    }
}

/// 200 when every configured backend answers, 503 naming the one that does not.
#[utoipa::path(get, path = "/api/health", tag = "ops", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db_kind = format!("{:?}", sea_orm::ConnectionTrait::get_database_backend(&state.b.db)).to_lowercase();
    let (db, kv, q) = tokio::join!(
        probe(&db_kind, state.b.db.ping()),
        probe(state.b.kv.backend(), state.b.kv.ping()),
        probe(state.b.queue.backend(), state.b.queue.ping()),
    );
    let all_ok = db.ok && kv.ok && q.ok;
    let mut backends = BTreeMap::new();
    backends.insert("database", db);
    backends.insert("kv", kv);
    backends.insert("queue", q);
    let body = Health { status: if all_ok { "ok" } else { "unavailable" }, backends };
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::render())
}

/// The OpenAPI 3 description, generated from the handlers' annotations.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}
