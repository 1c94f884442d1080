//! A live room and its actor: the row read as live (404, 409 `room_closed`), its anchor, the
//! anchor check, and the actor, started when needed (again if it died) with the PK and rain it
//! shows. Every feature that acts on a room starts here.

use super::rain_view::room_rain;
use super::{AppError, AppResult, Services};
use crate::actors::registry::RunningRoom;
use crate::actors::room::{Role, Room, SetPk, SetRain};
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

/// A live room's actor and anchor, for a command that needs nothing else of the room (a gift).
/// While the room's actor runs here they come from the registry, with no SQL read; otherwise
/// as `live_room` then `room_actor` (404, 409 `room_closed`; the actor started).
///
/// Why the registry may answer for the row: it hands out only an actor whose starter read the
/// row live after starting it (`room_actor`), and a close closes the row, then at once marks
/// the room closing in the registry (`RoomRegistry::closing`, before its PK and rain end and long
/// before it answers), then stops the actor and forgets it. So a room the registry still hands
/// out is one whose close has not answered: the command is ordered before that close, exactly
/// as one that read the row live an instant before the close was (which could always happen
/// and still commit after it). Once marked, or once forgotten, the command falls through to
/// the row, which reads closed: 409. An actor that restarts and finds the row closed marks
/// itself too. Nothing in a room's life changes its anchor, so the one the actor was started
/// with stays true.
pub async fn live_actor(svc: &Services, id: i64) -> AppResult<RunningRoom> {
    if let Some(running) = svc.rooms.live(id) {
        return Ok(running);
    }
    let r = live_room(svc, id).await?;
    let addr = room_actor(svc, &r).await?;
    Ok(RunningRoom { addr, anchor_id: r.anchor_id })
}

/// The actor of a live room, started when needed (again, if it died).
///
/// `r` was read as live by the caller, but a close may have run since: an actor this call
/// starts is only handed out once the row is read live again after the start. A close that
/// runs after that read stops the actor itself (it closes the row first, then the actor), so
/// no actor keeps running for a closed room whichever way the two interleave. For the same
/// reason the registry hands the new actor to `live_actor` only after that second read
/// (`RoomRegistry::confirm_live`): until then a gift reads the row itself.
pub async fn room_actor(svc: &Services, r: &room_rows::Model) -> AppResult<Addr<Room>> {
    if let Some(a) = svc.rooms.get(r.id) {
        return Ok(a);
    }
    let anchor = anchor_of(svc, r.anchor_id).await?;
    // In a cluster the room's home numbers its events; anywhere else the actor mirrors it.
    let role = match &svc.cluster {
        None => Role::Single,
        Some(c) => c.role_for(r.id).await.map_err(AppError::internal)?,
    };
    let (addr, started) = svc.rooms.get_or_start(r, anchor, role);
    if started {
        let now = rooms::find(&svc.b.db, r.id).await?;
        if now.is_none_or(|now| now.status != LIVE) {
            svc.rooms.close(r.id).await;
            return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
        }
        // Only now may the registry hand the actor out without a row (`live_actor`).
        svc.rooms.confirm_live(r.id, &addr);
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
