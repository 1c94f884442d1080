//! PK routes: read, join as challenger, leave. What they do is decided in `services::pk`.

use super::error::AppResult;
use super::session::AuthUser;
use super::state::AppState;
use crate::domain::pk::PkView;
use crate::services::pk;
use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rooms/{id}/pk", web::get().to(get))
        .route("/rooms/{id}/pk/join", web::post().to(join))
        .route("/rooms/{id}/pk/leave", web::post().to(leave));
}

/// The room's current or latest PK; 404 for a normal room.
#[utoipa::path(get, path = "/api/rooms/{id}/pk", tag = "pk", params(("id" = i64, Path)),
    responses((status = 200, description = "pk"), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, _user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<PkView>> {
    Ok(web::Json(pk::current(&state, *id).await?))
}

/// An anchor with a live room of their own joins as challenger; the PK starts.
#[utoipa::path(post, path = "/api/rooms/{id}/pk/join", tag = "pk", params(("id" = i64, Path)),
    responses((status = 200, description = "pk (running)"), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn join(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<PkView>> {
    Ok(web::Json(pk::join(&state, user.id, *id).await?))
}

/// The challenger or the host leaves: the other side wins.
#[utoipa::path(post, path = "/api/rooms/{id}/pk/leave", tag = "pk", params(("id" = i64, Path)),
    responses((status = 200, description = "pk (ended)"), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn leave(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<PkView>> {
    Ok(web::Json(pk::leave(&state, user.id, *id).await?))
}
