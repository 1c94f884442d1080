//! Red-packet rain routes: applications, prepare, start, grab. What they do is decided in
//! `services::rain`.

use super::error::AppResult;
use super::extract::{parse_status, Json, StatusQuery};
use super::limits;
use super::session::{Admin, AuthUser};
use super::state::AppState;
use super::views::PageOf;
use crate::clock::rfc3339;
use crate::domain::paging::Page;
use crate::domain::ratelimit::Limit;
use crate::domain::redpacket::ApplicationStatus;
use crate::domain::redpacket::RainView;
use crate::domain::review::Decision;
use crate::services::rain;
use crate::storage::entities::red_packet_applications as app_rows;
use crate::storage::rains;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/red-packet/applications", web::post().to(apply))
        .route("/red-packet/applications", web::get().to(my_applications))
        .route("/admin/red-packet/applications", web::get().to(list_applications))
        .route("/admin/red-packet/applications/{id}/approve", web::post().to(approve))
        .route("/admin/red-packet/applications/{id}/reject", web::post().to(reject))
        .route("/rooms/{id}/rain/prepare", web::post().to(prepare))
        .route("/rooms/{id}/rain/start", web::post().to(start))
        .route("/rooms/{id}/rain/grab", web::post().to(grab));
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: i64,
    pub anchor_id: i64,
    /// The anchor's nickname, so a list can name them.
    pub anchor_nickname: String,
    pub total_coins: i64,
    pub packets: i64,
    pub status: String,
    pub created_at: String,
}

async fn app_view(state: &AppState, a: app_rows::Model) -> AppResult<ApplicationView> {
    let anchor_nickname = state.nicknames.get(a.anchor_id).await?.unwrap_or_default();
    Ok(ApplicationView {
        id: a.id,
        anchor_id: a.anchor_id,
        anchor_nickname,
        total_coins: a.total_coins,
        packets: a.packets,
        status: a.status,
        created_at: rfc3339(a.created_at),
    })
}

/// A page of applications as lists show them.
async fn app_page(
    state: &AppState,
    anchor_id: Option<i64>,
    q: &StatusQuery,
) -> AppResult<web::Json<PageOf<ApplicationView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status::<ApplicationStatus>(q.status.as_deref())?;
    let (rows, total) = rains::applications(&state.b.db, anchor_id, status, page.offset(), page.page_size).await?;
    let mut items = Vec::with_capacity(rows.len());
    for a in rows {
        items.push(app_view(state, a).await?);
    }
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

#[derive(Deserialize, ToSchema)]
pub struct ApplyBody {
    /// At least `packets`.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub total_coins: i64,
    #[schema(minimum = 1, maximum = 100_000)]
    pub packets: i64,
}

/// An anchor applies to run a rain.
#[utoipa::path(post, path = "/api/red-packet/applications", tag = "rain", request_body = ApplyBody,
    responses((status = 201, body = ApplicationView), (status = 400, body = super::error::ErrorBody)))]
pub async fn apply(state: web::Data<AppState>, user: AuthUser, body: Json<ApplyBody>) -> AppResult<HttpResponse> {
    let ApplyBody { total_coins, packets } = body.0;
    let a = rain::apply(&state, user.id, total_coins, packets).await?;
    Ok(HttpResponse::Created().json(app_view(&state, a).await?))
}

/// Applications, newest first; admins only.
#[utoipa::path(get, path = "/api/admin/red-packet/applications", tag = "admin", params(("status" = Option<String>, Query, pattern = r"^(pending|approved|rejected|used)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<ApplicationView>), (status = 403, body = super::error::ErrorBody)))]
pub async fn list_applications(
    state: web::Data<AppState>,
    _admin: Admin,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<ApplicationView>>> {
    app_page(&state, None, &q).await
}

/// The caller's own applications, newest first, with how each stands.
#[utoipa::path(get, path = "/api/red-packet/applications", tag = "rain", params(("status" = Option<String>, Query, pattern = r"^(pending|approved|rejected|used)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<ApplicationView>), (status = 401, body = super::error::ErrorBody)))]
pub async fn my_applications(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<ApplicationView>>> {
    app_page(&state, Some(user.id), &q).await
}

/// Approves an application; admins only.
#[utoipa::path(post, path = "/api/admin/red-packet/applications/{id}/approve", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn approve(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> AppResult<web::Json<ApplicationView>> {
    Ok(web::Json(app_view(&state, rain::decide(&state, *id, Decision::Approve).await?).await?))
}

/// Rejects an application; admins only.
#[utoipa::path(post, path = "/api/admin/red-packet/applications/{id}/reject", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn reject(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> AppResult<web::Json<ApplicationView>> {
    Ok(web::Json(app_view(&state, rain::decide(&state, *id, Decision::Reject).await?).await?))
}

/// Prepares a rain: the anchor's wallet pays `total_coins`; the amounts are drawn and stored.
#[utoipa::path(post, path = "/api/rooms/{id}/rain/prepare", tag = "rain", params(("id" = i64, Path)),
    responses((status = 200, description = "rain (prepared)"), (status = 402, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn prepare(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<RainView>> {
    Ok(web::Json(rain::prepare(&state, user.id, *id).await?))
}

/// Starts the prepared rain; viewers get `rain_started` exactly once.
#[utoipa::path(post, path = "/api/rooms/{id}/rain/start", tag = "rain", params(("id" = i64, Path)),
    responses((status = 200, description = "rain (running)"), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn start(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<RainView>> {
    Ok(web::Json(rain::start(&state, user.id, *id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Grabbed {
    pub amount: i64,
    pub balance: i64,
}

/// Grabs one packet: claimed and credited in one transaction.
#[utoipa::path(post, path = "/api/rooms/{id}/rain/grab", tag = "rain", params(("id" = i64, Path)),
    responses((status = 200, body = Grabbed), (status = 409, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn grab(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Grabbed>> {
    limits::check(&state, &format!("grab:{}", user.id), Limit::per_second(20)).await?;
    let (amount, balance) = rain::grab(&state, user.id, *id).await?;
    Ok(web::Json(Grabbed { amount, balance }))
}
