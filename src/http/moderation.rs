//! Moderation routes (the room's anchor or an admin): mutes, kicks, bans, slow mode, deleting
//! chats. What they do is decided in `services::moderation`.

use super::error::AppResult;
use super::extract::{Json, PageQuery};
use super::session::AuthUser;
use super::state::AppState;
use super::views::{PageOf, UserRef};
use crate::clock::rfc3339;
use crate::domain::paging::Page;
use crate::domain::room::{parse_mute_seconds, parse_slow_mode};
use crate::services::moderation::{self, Moderator};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rooms/{id}/mutes", web::post().to(mute))
        .route("/rooms/{id}/mutes/{user_id}", web::delete().to(unmute))
        .route("/rooms/{id}/kicks", web::post().to(kick))
        .route("/rooms/{id}/bans", web::get().to(bans))
        .route("/rooms/{id}/bans/{user_id}", web::delete().to(unban))
        .route("/rooms/{id}/slow-mode", web::put().to(slow_mode))
        .route("/rooms/{id}/messages/{seq}", web::delete().to(delete_message));
}

fn by(user: &AuthUser) -> Moderator {
    Moderator { user_id: user.id, is_admin: user.is_admin }
}

#[derive(Deserialize, ToSchema)]
pub struct MuteBody {
    pub user_id: i64,
    #[schema(minimum = 10, maximum = 86_400)]
    pub seconds: i64,
}

/// Mutes a user's chat for `seconds`; the room sees `muted`.
#[utoipa::path(post, path = "/api/rooms/{id}/mutes", tag = "moderation", request_body = MuteBody, params(("id" = i64, Path)),
    responses((status = 200), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn mute(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<MuteBody>,
) -> AppResult<HttpResponse> {
    let seconds = parse_mute_seconds(body.0.seconds)?;
    let until = moderation::mute(&state, by(&user), *id, body.0.user_id, seconds).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": body.0.user_id, "until": rfc3339(until)})))
}

/// Lifts a mute.
#[utoipa::path(delete, path = "/api/rooms/{id}/mutes/{user_id}", tag = "moderation", params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn unmute(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> AppResult<HttpResponse> {
    let (id, user_id) = path.into_inner();
    moderation::unmute(&state, by(&user), id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct KickBody {
    pub user_id: i64,
    pub ban: Option<bool>,
}

/// Closes the user's sockets with 4003; with `ban`, `/im` answers 403 until lifted.
#[utoipa::path(post, path = "/api/rooms/{id}/kicks", tag = "moderation", request_body = KickBody, params(("id" = i64, Path)),
    responses((status = 200), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn kick(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<KickBody>,
) -> AppResult<HttpResponse> {
    let ban = body.0.ban.unwrap_or(false);
    moderation::kick(&state, by(&user), *id, body.0.user_id, ban).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": body.0.user_id, "banned": ban})))
}

#[derive(Serialize, ToSchema)]
pub struct BanView {
    pub user: UserRef,
    /// When the ban was made.
    pub at: String,
}

/// Who is banned from the room, newest first (the room's anchor or an admin; the room may be
/// closed), so each ban can be lifted.
#[utoipa::path(get, path = "/api/rooms/{id}/bans", tag = "moderation", params(("id" = i64, Path), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<BanView>), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn bans(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<PageOf<BanView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let (rows, total) = moderation::bans(&state, by(&user), *id, page).await?;
    let items = rows.into_iter().map(|(user, since)| BanView { user, at: rfc3339(since) }).collect();
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

/// Lifts a ban.
#[utoipa::path(delete, path = "/api/rooms/{id}/bans/{user_id}", tag = "moderation", params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn unban(state: web::Data<AppState>, user: AuthUser, path: web::Path<(i64, i64)>) -> AppResult<HttpResponse> {
    let (id, user_id) = path.into_inner();
    moderation::unban(&state, by(&user), id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct SlowModeBody {
    /// 0 turns slow mode off.
    #[schema(minimum = 0, maximum = 300)]
    pub seconds: i64,
}

/// Each viewer may chat once per `seconds` (0 turns it off); the anchor is exempt.
#[utoipa::path(put, path = "/api/rooms/{id}/slow-mode", tag = "moderation", request_body = SlowModeBody, params(("id" = i64, Path)),
    responses((status = 200), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn slow_mode(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<SlowModeBody>,
) -> AppResult<HttpResponse> {
    let seconds = parse_slow_mode(body.0.seconds)?;
    moderation::slow_mode(&state, by(&user), *id, seconds).await?;
    Ok(HttpResponse::Ok().json(json!({"seconds": seconds})))
}

/// Deletes a chat message: the room sees `chat_deleted` and it leaves the history.
#[utoipa::path(delete, path = "/api/rooms/{id}/messages/{seq}", tag = "moderation", params(("id" = i64, Path), ("seq" = u64, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, u64)>,
) -> AppResult<HttpResponse> {
    let (id, seq) = path.into_inner();
    moderation::delete_message(&state, by(&user), id, seq).await?;
    Ok(HttpResponse::NoContent().finish())
}
