//! `/api/rooms`: open, list, get, close, and `/im` tickets for the WebSocket.

use super::error::AppResult;
use super::extract::Json;
use super::session::AuthUser;
use super::state::AppState;
use super::views::PageOf;
use crate::domain::paging::Page;
use crate::domain::room::{parse_title, RoomKind};
use crate::services::rooms::{self, live_room, RoomView};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rooms", web::get().to(list))
        .route("/rooms", web::post().to(create))
        .route("/rooms/{id}", web::get().to(get))
        .route("/rooms/{id}", web::delete().to(close))
        .route("/rooms/{id}/im", web::get().to(im));
}

#[derive(Deserialize, ToSchema)]
pub struct CreateRoom {
    /// 1 to 60 characters once trimmed (spaces around are ignored), no control characters.
    #[schema(
        pattern = r#"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\x00-\x1f\x7f-\x9f]{0,58}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"#
    )]
    pub title: String,
    #[schema(pattern = r"^(normal|pk)$")]
    pub kind: String,
}

/// Goes live: the caller is the new room's anchor.
#[utoipa::path(post, path = "/api/rooms", tag = "rooms", request_body = CreateRoom,
    responses((status = 201, body = RoomView), (status = 400, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody, description = "already_live")))]
pub async fn create(state: web::Data<AppState>, user: AuthUser, body: Json<CreateRoom>) -> AppResult<HttpResponse> {
    let title = parse_title(&body.0.title)?;
    let kind = RoomKind::parse(&body.0.kind)?;
    Ok(HttpResponse::Created().json(rooms::open(&state, user.id, title, kind).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    pub kind: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Live rooms, newest first, from a snapshot at most a second old.
#[utoipa::path(get, path = "/api/rooms", tag = "rooms", params(("kind" = Option<String>, Query, pattern = r"^(normal|pk)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<RoomView>), (status = 400, body = super::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    q: web::Query<ListQuery>,
) -> AppResult<web::Json<PageOf<RoomView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let kind = q.kind.as_deref().map(RoomKind::parse).transpose()?;
    let snap = state.room_list.get(&state).await?;
    let all: Vec<&RoomView> = snap.iter().filter(|r| kind.is_none_or(|k| r.kind == k.as_str())).collect();
    let items = all
        .iter()
        .skip(page.offset() as usize)
        .take(page.page_size as usize)
        .map(|r| {
            let mut r = (*r).clone();
            // On one node the count is this moment's; in a cluster it is the home's, as the
            // snapshot took it (this node may run no actor for the room).
            if state.cluster.is_none() {
                r.online = state.rooms.online(r.id);
            }
            r
        })
        .collect();
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total: all.len() as u64 }))
}

/// One room, live or closed, with its PK, rain and products where they apply.
#[utoipa::path(get, path = "/api/rooms/{id}", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, _user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<RoomView>> {
    Ok(web::Json(rooms::show(&state, *id).await?))
}

/// Closes the room (anchor only): viewers get `room_closed`; a PK or rain in it ends.
#[utoipa::path(delete, path = "/api/rooms/{id}", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn close(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<HttpResponse> {
    rooms::close(&state, user.id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct ImTicket {
    pub url: String,
    pub ticket: String,
    pub expires_in: u64,
}

pub fn ticket_key(t: &str) -> String {
    crate::storage::kv::keys::ticket(t)
}

/// A one-use WebSocket ticket for this room, valid 30 s.
#[utoipa::path(get, path = "/api/rooms/{id}/im", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 200, body = ImTicket), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn im(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<i64>,
) -> AppResult<web::Json<ImTicket>> {
    // Tickets per user per minute, and the user's socket caps (the handshake checks them again).
    let per_minute = crate::domain::ratelimit::Limit::new(state.settings.room.im_per_minute, 60);
    super::limits::check(&state, &format!("im:{}", user.id), per_minute).await?;
    let r = live_room(&state, *id).await?;
    crate::services::moderation::may_enter(&state, r.id, user.id).await?;
    state.notices.hub.check(user.id, r.id, super::ws::socket_caps(&state)).map_err(super::ws::too_many_sockets)?;
    let ticket = super::session::new_token();
    let ttl = state.settings.room.ticket_ttl_s;
    state.b.kv.set(&ticket_key(&ticket), &format!("{}:{}", user.id, r.id), Some(Duration::from_secs(ttl))).await?;
    let base = if state.settings.server.public_url.is_empty() {
        let ci = req.connection_info();
        let scheme = if ci.scheme() == "https" { "wss" } else { "ws" };
        format!("{scheme}://{}", ci.host())
    } else {
        state.settings.server.public_url.replacen("http", "ws", 1)
    };
    Ok(web::Json(ImTicket { url: format!("{base}/ws?ticket={ticket}"), ticket, expires_in: ttl }))
}
