//! What the features beside a room (PK, rain, commerce) add when a room opens, closes or is
//! shown. One place, so rooms.rs does not grow a branch per feature.

use super::error::AppResult;
use super::rooms::RoomView;
use super::state::AppState;
use crate::actors::room::{Room, SetExtra};
use crate::storage::entities::rooms;
use actix::Addr;

#[derive(Clone, Default)]
pub struct RoomHooks;

impl RoomHooks {
    /// A room just went live.
    pub async fn room_opened(&self, state: &AppState, room: &rooms::Model) -> AppResult<()> {
        super::pk::on_room_opened(state, room).await
    }

    /// A room is closing: whatever runs in it ends. Each feature's step runs even when an
    /// earlier one failed (the first error is answered); every step is idempotent, so a
    /// retried close finishes what a failed one left.
    pub async fn room_closing(&self, state: &AppState, room: &rooms::Model) -> AppResult<()> {
        let pk = super::pk::on_room_closing(state, room).await;
        let rain = super::rain::on_room_closing(state, room.id).await;
        pk.and(rain)
    }

    /// A room's actor was just started (first use, or again after it died): it learns the
    /// PK and rain that `welcome` shows, which a dead actor took with it.
    pub async fn actor_started(&self, state: &AppState, room: &rooms::Model, addr: &Addr<Room>) {
        if let Some(pk) = state.pk.get(room.id) {
            if let Ok(v) = pk.send(crate::actors::pk::Get).await {
                addr.do_send(SetExtra { key: "pk", value: Some(v) });
            }
        }
        match super::rain::room_rain(state, room.id).await {
            Ok(Some(v)) => addr.do_send(SetExtra { key: "rain", value: Some(v) }),
            Ok(None) => {}
            Err(e) => tracing::warn!(room = room.id, error = %e, "could not show the rain in a restarted room"),
        }
    }

    /// `GET /api/rooms/{id}`: the room's PK, rain and products where they apply.
    pub async fn decorate(&self, state: &AppState, room: &rooms::Model, view: &mut RoomView) -> AppResult<()> {
        self.decorate_listed(state, room, view).await?;
        view.rain = super::rain::room_rain(state, room.id).await?;
        let shelf = super::commerce::shelf_json(state, room.anchor_id).await?;
        if !shelf.is_empty() {
            view.products = Some(shelf);
        }
        Ok(())
    }

    /// The room list: PK rooms show their PK.
    pub async fn decorate_listed(&self, state: &AppState, room: &rooms::Model, view: &mut RoomView) -> AppResult<()> {
        if room.kind == crate::domain::room::RoomKind::Pk.as_str() {
            if let Some(p) = crate::storage::pks::latest(&state.b.db, room.id).await? {
                view.pk = Some(super::pk::view(state, &p).await?);
            }
        }
        Ok(())
    }
}
