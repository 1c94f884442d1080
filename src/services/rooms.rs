//! Rooms: opening and closing one, its actor (started when needed, again if it died), and what
//! a room shows (`RoomView`, with the PK, rain and products beside it). What the features beside
//! a room (PK, rain, commerce) do when it opens, closes or restarts is decided here, in one
//! place, so no feature grows a branch in another's code.

pub use super::live_room::{anchor_of, live_room, require_anchor, room_actor};
use super::{AppError, AppResult, Services};
use crate::clock::rfc3339;
use crate::domain::error::ErrorCode;
use crate::domain::events::ShelfItem;
use crate::domain::pk::PkView;
use crate::domain::redpacket::RainView;
use crate::domain::room::{RoomKind, LIVE};
use crate::domain::user::AnchorRef;
use crate::storage::entities::rooms as room_rows;
use crate::storage::rooms;
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
    if let (Some(c), true) = (&svc.cluster, r.status == LIVE) {
        if let Some(n) = c.online_of(r.id).await {
            view.online = n;
        }
    }
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

/// Everything a close does after the row is closed: the room is marked closing at once (a gift
/// to its running actor is refused from here on, see `live_room::live_actor`), the PK and rain
/// in the room end (the room's viewers still hear it), then the actor closes and the list
/// forgets the room. The actor closes even when a step failed; the first error is answered
/// after.
pub async fn finish_close(svc: &Services, r: &room_rows::Model) -> AppResult<()> {
    svc.rooms.closing(r.id);
    let pk = super::pk::on_room_closing(svc, r).await;
    let rain = super::rain::on_room_closing(svc, r.id).await;
    // In a cluster the room's home closes it for every node (its `room_closed` closes the
    // mirrors); this node's own actor closes after, as on one node.
    if let Some(c) = &svc.cluster {
        if let Err(e) = c.moderate(svc, r, crate::actors::room::Moderate::Close).await {
            tracing::warn!(room = r.id, error = %e, "the room's home did not hear the close");
        }
        // A mirror here closes when the home's `room_closed` reaches it over the bus, so its
        // viewers get that frame before their 4004; closing it first would cut them off
        // without it. Give the frame up to 2 s.
        if let Some(a) = svc.rooms.get(r.id) {
            let _ = a.send(crate::actors::room::CloseWithin(std::time::Duration::from_secs(2))).await;
        }
    }
    svc.rooms.close(r.id).await;
    svc.room_list.invalidate();
    pk.and(rain)
}

/// `GET /api/rooms/{id}`: the room's PK, rain and products where they apply.
pub async fn decorate(svc: &Services, room: &room_rows::Model, view: &mut RoomView) -> AppResult<()> {
    decorate_listed(svc, room, view).await?;
    view.rain = super::rain_view::room_rain(svc, room.id).await?;
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
