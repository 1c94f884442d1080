//! Rooms: opening and closing one, its actor (started when needed, again if it died), and what
//! a room shows (`RoomView`, with the PK, rain and products beside it). What the features beside
//! a room (PK, rain, commerce) do when it opens, closes or restarts is decided here, in one
//! place, so no feature grows a branch in another's code.

use super::{AppError, AppResult, Services};
use crate::actors::room::{Room, SetPk, SetRain};
use crate::clock::rfc3339;
use crate::domain::error::ErrorCode;
use crate::domain::events::ShelfItem;
use crate::domain::pk::PkView;
use crate::domain::redpacket::RainView;
use crate::domain::room::{RoomKind, LIVE};
use crate::domain::user::AnchorRef;
use crate::storage::entities::rooms as room_rows;
use crate::storage::{rooms, users};
use actix::Addr;
use serde::Serialize;
use utoipa::ToSchema;

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
    pub pk: Option<PkView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rain: Option<RainView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub products: Option<Vec<ShelfItem>>,
}

pub fn room_view(svc: &Services, r: &room_rows::Model, anchor: AnchorRef) -> RoomView {
    RoomView {
        id: r.id,
        title: r.title.clone(),
        kind: r.kind.clone(),
        status: r.status.clone(),
        anchor,
        online: if r.status == LIVE { svc.rooms.online(r.id) } else { 0 },
        started_at: rfc3339(r.started_at),
        pk: None,
        rain: None,
        products: None,
    }
}

pub async fn anchor_of(svc: &Services, anchor_id: i64) -> AppResult<AnchorRef> {
    let u = users::find(&svc.b.db, anchor_id).await?;
    Ok(match u {
        Some(u) => AnchorRef { id: u.id, nickname: u.nickname, avatar: u.avatar },
        None => AnchorRef { id: anchor_id, nickname: String::new(), avatar: String::new() },
    })
}

/// A live room's row, 404 when unknown, 409 `room_closed` when closed.
pub async fn live_room(svc: &Services, id: i64) -> AppResult<room_rows::Model> {
    let r = rooms::find(&svc.b.db, id).await?.ok_or(AppError::NotFound("room"))?;
    if r.status != LIVE {
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    Ok(r)
}

/// The actor of a live room, started when needed (again, if it died).
///
/// `r` was read as live by the caller, but a close may have run since: an actor this call
/// starts is only handed out once the row is read live again after the start. A close that
/// runs after that read stops the actor itself (it closes the row first, then the actor), so
/// no actor keeps running for a closed room whichever way the two interleave.
pub async fn room_actor(svc: &Services, r: &room_rows::Model) -> AppResult<Addr<Room>> {
    if let Some(a) = svc.rooms.get(r.id) {
        return Ok(a);
    }
    let anchor = anchor_of(svc, r.anchor_id).await?;
    let (addr, started) = svc.rooms.get_or_start(r, anchor);
    if started {
        let now = rooms::find(&svc.b.db, r.id).await?;
        if now.is_none_or(|now| now.status != LIVE) {
            svc.rooms.close(r.id).await;
            return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
        }
        actor_started(svc, r, &addr).await;
    }
    Ok(addr)
}

/// 403 `forbidden` with `message` unless `user_id` is the room's anchor.
pub fn require_anchor(r: &room_rows::Model, user_id: i64, message: &'static str) -> AppResult<()> {
    if r.anchor_id == user_id {
        Ok(())
    } else {
        Err(AppError::forbidden(message))
    }
}

/// Goes live: `anchor` opens a room of `kind` and is its anchor.
pub async fn open(svc: &Services, anchor_id: i64, title: String, kind: RoomKind) -> AppResult<RoomView> {
    if rooms::live_room_of(&svc.b.db, anchor_id).await?.is_some() {
        return Err(AppError::conflict(ErrorCode::AlreadyLive, "you already have a live room"));
    }
    let id = svc.b.ids.next("room").await?;
    let r = match rooms::open(&svc.b.db, id, anchor_id, title, kind).await {
        Ok(r) => r,
        Err(rooms::OpenError::AlreadyLive) => {
            return Err(AppError::conflict(ErrorCode::AlreadyLive, "you already have a live room"))
        }
        Err(rooms::OpenError::Db(e)) => return Err(e.into()),
    };
    let anchor = anchor_of(svc, anchor_id).await?;
    svc.room_list.invalidate();
    super::pk::on_room_opened(svc, &r).await?;
    room_actor(svc, &r).await?;
    let mut view = room_view(svc, &r, anchor);
    decorate(svc, &r, &mut view).await?;
    Ok(view)
}

/// One room, live or closed, with its PK, rain and products where they apply.
pub async fn show(svc: &Services, id: i64) -> AppResult<RoomView> {
    let r = rooms::find(&svc.b.db, id).await?.ok_or(AppError::NotFound("room"))?;
    let anchor = anchor_of(svc, r.anchor_id).await?;
    let mut view = room_view(svc, &r, anchor);
    decorate(svc, &r, &mut view).await?;
    Ok(view)
}

/// Closes the room (its anchor only): viewers get `room_closed`; a PK or rain in it ends.
///
/// Safe to retry: the row is closed first (once), then every later step runs on each call,
/// whether or not this call closed the row, and each is idempotent. A step that fails does
/// not skip the others; the call answers the failure so the client retries, and the periodic
/// PK and rain sweeps finish a close nobody retries.
pub async fn close(svc: &Services, by: i64, id: i64) -> AppResult<()> {
    let r = rooms::find(&svc.b.db, id).await?.ok_or(AppError::NotFound("room"))?;
    require_anchor(&r, by, "only the room's anchor may close it")?;
    rooms::close(&svc.b.db, &r).await?;
    finish_close(svc, &r).await
}

/// Everything a close does after the row is closed: the PK and rain in the room end (the
/// room's viewers still hear it), then the actor closes and the list forgets the room. The
/// actor closes even when a step failed; the first error is answered after.
pub async fn finish_close(svc: &Services, r: &room_rows::Model) -> AppResult<()> {
    let pk = super::pk::on_room_closing(svc, r).await;
    let rain = super::rain::on_room_closing(svc, r.id).await;
    svc.rooms.close(r.id).await;
    svc.room_list.invalidate();
    pk.and(rain)
}

/// A room's actor was just started (first use, or again after it died): it learns the PK and
/// rain that `welcome` shows, which a dead actor took with it.
async fn actor_started(svc: &Services, room: &room_rows::Model, addr: &Addr<Room>) {
    if let Some(pk) = svc.pk.get(room.id) {
        if let Ok(v) = pk.send(crate::actors::pk::Get).await {
            addr.do_send(SetPk(Some(v)));
        }
    }
    match super::rain::room_rain(svc, room.id).await {
        Ok(Some(v)) => addr.do_send(SetRain(Some(v))),
        Ok(None) => {}
        Err(e) => tracing::warn!(room = room.id, error = %e, "could not show the rain in a restarted room"),
    }
}

/// `GET /api/rooms/{id}`: the room's PK, rain and products where they apply.
pub async fn decorate(svc: &Services, room: &room_rows::Model, view: &mut RoomView) -> AppResult<()> {
    decorate_listed(svc, room, view).await?;
    view.rain = super::rain::room_rain(svc, room.id).await?;
    let shelf = super::products::shelf_items(svc, room.anchor_id).await?;
    if !shelf.is_empty() {
        view.products = Some(shelf);
    }
    Ok(())
}

/// The room list: PK rooms show their PK.
pub async fn decorate_listed(svc: &Services, room: &room_rows::Model, view: &mut RoomView) -> AppResult<()> {
    if room.kind == RoomKind::Pk.as_str() {
        if let Some(p) = crate::storage::pks::latest(&svc.b.db, room.id).await? {
            view.pk = Some(super::pk::view(svc, &p).await?);
        }
    }
    Ok(())
}
