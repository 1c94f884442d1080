//! Operations: health of every backend, Prometheus metrics, the OpenAPI description.

use super::error::{AppError, FailedBackend};
use super::state::AppState;
use crate::domain::error::ErrorCode;
use crate::settings::MetricsSettings;
use crate::storage::health::Backend;
use actix_web::{
    body::{BoxBody, MessageBody},
    dev::{Server, ServiceRequest, ServiceResponse},
    middleware::Next,
    web, App, HttpRequest, HttpResponse, HttpServer, ResponseError,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

#[derive(Serialize, ToSchema)]
pub struct BackendHealth {
    pub kind: String,
    pub ok: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub backends: BTreeMap<&'static str, BackendHealth>,
    /// Only on a node of a cluster (`cluster.enabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// This node and the live nodes it sees, itself included.
#[derive(Serialize, ToSchema)]
pub struct ClusterHealth {
    pub node_id: String,
    pub nodes: Vec<crate::storage::members::Member>,
}

/// Whether the backend answers; the cause is logged (at debug), never sent: the health page is
/// public and error text names hosts, users and versions.
async fn probe<F, E>(kind: &str, bound: Duration, f: F) -> BackendHealth
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let ok = match tokio::time::timeout(bound, f).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(backend = kind, error = %e, "health probe failed");
            false
        }
        Err(_) => false,
    };
    BackendHealth { kind: kind.into(), ok }
}

/// 200 when every configured backend answers, 503 naming the one that does not (never why).
#[utoipa::path(get, path = "/api/health", tag = "ops", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db_kind = format!("{:?}", sea_orm::ConnectionTrait::get_database_backend(&state.b.db)).to_lowercase();
    let h = &state.b.health;
    let bound = h.timeout().max(Duration::from_millis(500));
    // A backend the tracker knows is down is reported at once, without waiting on it again.
    let db_ping = async {
        h.admit(Backend::Sql)?;
        state.b.db.ping().await.map_err(|e| anyhow::anyhow!(e))
    };
    let (db, kv, q) = tokio::join!(
        probe(&db_kind, bound, db_ping),
        probe(state.b.kv.backend(), bound, state.b.kv.ping()),
        probe(state.b.queue.backend(), bound, state.b.queue.ping()),
    );
    let all_ok = db.ok && kv.ok && q.ok;
    let mut backends = BTreeMap::new();
    backends.insert("database", db);
    backends.insert("kv", kv);
    backends.insert("queue", q);
    let cluster =
        state.svc.cluster.as_ref().map(|c| ClusterHealth { node_id: c.node_id().to_owned(), nodes: c.live() });
    let body = Health { status: if all_ok { "ok" } else { "unavailable" }, backends, cluster };
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", super::error::BACKEND_RETRY_AFTER_S.to_string()))
            .json(body)
    }
}

/// Prometheus text. With `metrics.token` set, only for `Authorization: Bearer <token>`.
pub async fn metrics(req: HttpRequest, settings: web::Data<MetricsSettings>) -> HttpResponse {
    if !settings.token.is_empty() {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .unwrap_or("");
        if !constant_time_eq(presented.trim().as_bytes(), settings.token.as_bytes()) {
            return HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Bearer")).json(
                serde_json::json!({"error": {"code": ErrorCode::Unauthorized, "message": "metrics need a token"}}),
            );
        }
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::render())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves `/metrics` alone on `metrics.listen` (a private address), apart from the public port.
pub fn metrics_server(listener: std::net::TcpListener, settings: MetricsSettings) -> std::io::Result<Server> {
    let data = web::Data::new(settings);
    Ok(HttpServer::new(move || App::new().app_data(data.clone()).route("/metrics", web::get().to(metrics)))
        .workers(1)
        .listen(listener)?
        // Stopped by `Application::run_until_stopped` once the app has drained, not by signals.
        .disable_signals()
        .shutdown_timeout(1)
        .run())
}

/// Fails fast with 503 while the SQL database is known to be down (nearly every API route needs
/// it; chat on an open socket does not pass here and keeps working), letting one request at a
/// time try it (the tracker's half-open trial) so the first request after its return succeeds;
/// bounds every API request by a deadline, past which it answers 503 and the database is probed
/// (a database that stops answering mid-query, a blackhole, cannot hold requests for minutes);
/// and tells the health tracker about a database failure that surfaced in an answer.
pub async fn backend_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let h = &state.b.health;
    let path = req.path();
    let gated = path.starts_with("/api/") && path != "/api/health" && path != "/api/openapi.json";
    if !gated {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    if let Err(down) = h.admit_or_try(Backend::Sql).await {
        let res = AppError::BackendDown(down.0).error_response();
        return Ok(req.into_response(res));
    }
    let deadline = request_deadline(&state);
    let res = match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(res) => res?,
        Err(_) => {
            // Only the database can hold a request this long (Redis and RabbitMQ calls are each
            // bounded by backends.timeout_ms): find out whether it still answers. The request
            // was handed on, so the 503 goes back as an error the outer layers answer.
            h.suspect(Backend::Sql).await;
            tracing::debug!(ms = deadline.as_millis() as u64, "request past its deadline");
            return Err(AppError::BackendDown(Backend::Sql).into());
        }
    };
    let Some(FailedBackend(b)) = res.response().extensions().get::<FailedBackend>().copied() else {
        return Ok(res.map_into_boxed_body());
    };
    if b == Backend::Sql {
        h.failure(Backend::Sql, &"a request found the database unreachable");
    }
    // The same answer rebuilt without the error attached, so the request logger does not write
    // an ERROR line per request during an outage: the tracker logged the outage once.
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, AppError::BackendDown(b).error_response()))
}

/// The longest an API request may take (`Settings::request_deadline`).
pub fn request_deadline(state: &AppState) -> Duration {
    state.settings.request_deadline()
}
