//! `/api/rooms`: open, list, get, close, and `/im` tickets for the WebSocket.

use super::error::{AppError, AppResult};
use super::extract::Json;
use super::session::AuthUser;
use super::state::AppState;
use super::views::PageOf;
use crate::actors::room::{AnchorRef, Room};
use crate::clock::rfc3339;
use crate::domain::paging::Page;
use crate::domain::room::{parse_title, RoomKind, LIVE};
use crate::storage::entities::rooms as room_rows;
use crate::storage::{rooms, users};
use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rooms", web::get().to(list))
        .route("/rooms", web::post().to(create))
        .route("/rooms/{id}", web::get().to(get))
        .route("/rooms/{id}", web::delete().to(close))
        .route("/rooms/{id}/im", web::get().to(im));
}

/// The contract's `room`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomView {
    pub id: i64,
    pub title: String,
    pub kind: String,
    pub status: String,
    #[schema(value_type = Object)]
    pub anchor: AnchorRef,
    pub online: i64,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pk: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rain: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub products: Option<Vec<Value>>,
}

pub fn room_view(state: &AppState, r: &room_rows::Model, anchor: AnchorRef) -> RoomView {
    RoomView {
        id: r.id,
        title: r.title.clone(),
        kind: r.kind.clone(),
        status: r.status.clone(),
        anchor,
        online: if r.status == LIVE { state.rooms.online(r.id) } else { 0 },
        started_at: rfc3339(r.started_at),
        pk: None,
        rain: None,
        products: None,
    }
}

pub async fn anchor_of(state: &AppState, anchor_id: i64) -> AppResult<AnchorRef> {
    let u = users::find(&state.b.db, anchor_id).await?;
    Ok(match u {
        Some(u) => AnchorRef { id: u.id, nickname: u.nickname, avatar: u.avatar },
        None => AnchorRef { id: anchor_id, nickname: String::new(), avatar: String::new() },
    })
}

/// A live room's row, 404 when unknown, 409 `room_closed` when closed.
pub async fn live_room(state: &AppState, id: i64) -> AppResult<room_rows::Model> {
    let r = rooms::find(&state.b.db, id).await?.ok_or(AppError::NotFound("room"))?;
    if r.status != LIVE {
        return Err(AppError::conflict("room_closed", "the room is closed"));
    }
    Ok(r)
}

/// The actor of a live room, started when needed (again, if it died).
///
/// `r` was read as live by the caller, but a close may have run since: an actor this call
/// starts is only handed out once the row is read live again after the start. A close that
/// runs after that read stops the actor itself (it closes the row first, then the actor), so
/// no actor keeps running for a closed room whichever way the two interleave.
pub async fn room_actor(state: &AppState, r: &room_rows::Model) -> AppResult<Addr<Room>> {
    if let Some(a) = state.rooms.get(r.id) {
        return Ok(a);
    }
    let anchor = anchor_of(state, r.anchor_id).await?;
    let (addr, started) = state.rooms.get_or_start(r, anchor);
    if started {
        let now = rooms::find(&state.b.db, r.id).await?;
        if now.is_none_or(|now| now.status != LIVE) {
            state.rooms.close(r.id).await;
            return Err(AppError::conflict("room_closed", "the room is closed"));
        }
        state.hooks.actor_started(state, r, &addr).await;
    }
    Ok(addr)
}

/// The caller is the room's anchor or an admin; 403 otherwise.
pub fn require_moderator(user: &AuthUser, r: &room_rows::Model) -> AppResult<()> {
    if user.id == r.anchor_id || user.is_admin {
        Ok(())
    } else {
        Err(AppError::forbidden("only the room's anchor or an admin may do this"))
    }
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
    responses((status = 201, body = RoomView), (status = 400, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody, description = "already_live")))]
pub async fn create(state: web::Data<AppState>, user: AuthUser, body: Json<CreateRoom>) -> AppResult<HttpResponse> {
    let title = parse_title(&body.0.title)?;
    let kind = RoomKind::parse(&body.0.kind)?;
    if rooms::live_room_of(&state.b.db, user.id).await?.is_some() {
        return Err(AppError::conflict("already_live", "you already have a live room"));
    }
    let id = state.b.ids.next("room").await?;
    let r = match rooms::open(&state.b.db, id, user.id, title, kind).await {
        Ok(r) => r,
        Err(rooms::OpenError::AlreadyLive) => {
            return Err(AppError::conflict("already_live", "you already have a live room"))
        }
        Err(rooms::OpenError::Db(e)) => return Err(e.into()),
    };
    let anchor = anchor_of(&state, user.id).await?;
    state.room_list.invalidate();
    state.hooks.room_opened(&state, &r).await?;
    room_actor(&state, &r).await?;
    let mut view = room_view(&state, &r, anchor);
    state.hooks.decorate(&state, &r, &mut view).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    pub kind: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Live rooms, newest first, from a snapshot at most a second old.
#[utoipa::path(get, path = "/api/rooms", tag = "rooms", params(("kind" = Option<String>, Query, pattern = r"^(normal|pk)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<RoomView>), (status = 400, body = super::openapi::ErrorBody)))]
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
            r.online = state.rooms.online(r.id);
            r
        })
        .collect();
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total: all.len() as u64 }))
}

/// One room, live or closed, with its PK, rain and products where they apply.
#[utoipa::path(get, path = "/api/rooms/{id}", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, _user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<RoomView>> {
    let r = rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    let anchor = anchor_of(&state, r.anchor_id).await?;
    let mut view = room_view(&state, &r, anchor);
    state.hooks.decorate(&state, &r, &mut view).await?;
    Ok(web::Json(view))
}

/// Closes the room (anchor only): viewers get `room_closed`; a PK or rain in it ends.
///
/// Safe to retry: the row is closed first (once), then every later step runs on each call,
/// whether or not this call closed the row, and each is idempotent. A step that fails does
/// not skip the others; the call answers the failure so the client retries, and the periodic
/// PK and rain sweeps finish a close nobody retries.
#[utoipa::path(delete, path = "/api/rooms/{id}", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn close(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let r = rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    if r.anchor_id != user.id {
        return Err(AppError::forbidden("only the room's anchor may close it"));
    }
    rooms::close(&state.b.db, &r).await?;
    finish_close(&state, &r).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Everything a close does after the row is closed: the PK and rain in the room end (the
/// room's viewers still hear it), then the actor closes and the list forgets the room. The
/// actor closes even when a hook failed; the hook's error is answered after.
pub async fn finish_close(state: &AppState, r: &room_rows::Model) -> AppResult<()> {
    let hooks = state.hooks.room_closing(state, r).await;
    state.rooms.close(r.id).await;
    state.room_list.invalidate();
    hooks
}

#[derive(Serialize, ToSchema)]
pub struct ImTicket {
    pub url: String,
    pub ticket: String,
    pub expires_in: u64,
}

pub fn ticket_key(t: &str) -> String {
    format!("ticket:{t}")
}

/// A one-use WebSocket ticket for this room, valid 30 s.
#[utoipa::path(get, path = "/api/rooms/{id}/im", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 200, body = ImTicket), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
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
    if rooms::is_banned(&state.b.db, r.id, user.id).await? {
        return Err(AppError::Forbidden("banned", "you are banned from this room".into()));
    }
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
