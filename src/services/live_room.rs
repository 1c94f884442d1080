//! A live room and its actor: the row read as live (404, 409 `room_closed`), its anchor, the
//! anchor check, and the actor, started when needed (again if it died) with the PK and rain it
//! shows. Every feature that acts on a room starts here.

use super::rain_view::room_rain;
use super::{AppError, AppResult, Services};
use crate::actors::room::{Room, SetPk, SetRain};
use crate::domain::error::ErrorCode;
use crate::domain::room::LIVE;
use crate::domain::user::AnchorRef;
use crate::storage::entities::rooms as room_rows;
use crate::storage::{rooms, users};
use actix::Addr;

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

/// A room's actor was just started (first use, or again after it died): it learns the PK and
/// rain that `welcome` shows, which a dead actor took with it.
async fn actor_started(svc: &Services, room: &room_rows::Model, addr: &Addr<Room>) {
    if let Some(pk) = svc.pk.get(room.id) {
        if let Ok(v) = pk.send(crate::actors::pk::Get).await {
            addr.do_send(SetPk(Some(v)));
        }
    }
    match room_rain(svc, room.id).await {
        Ok(Some(v)) => addr.do_send(SetRain(Some(v))),
        Ok(None) => {}
        Err(e) => tracing::warn!(room = room.id, error = %e, "could not show the rain in a restarted room"),
    }
}
