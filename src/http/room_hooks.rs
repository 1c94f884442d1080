//! What the features beside a room (PK, rain, commerce) add when a room opens, closes or is
//! shown. One place, so rooms.rs does not grow a branch per feature.

use super::error::AppResult;
use super::rooms::RoomView;
use super::state::AppState;
use crate::storage::entities::rooms;

#[derive(Clone, Default)]
pub struct RoomHooks;

impl RoomHooks {
    /// A room just went live.
    pub async fn room_opened(&self, state: &AppState, room: &rooms::Model) -> AppResult<()> {
        super::pk::on_room_opened(state, room).await
    }

    /// A room is closing: whatever runs in it ends.
    pub async fn room_closing(&self, state: &AppState, room: &rooms::Model) -> AppResult<()> {
        super::pk::on_room_closing(state, room).await?;
        super::rain::on_room_closing(state, room.id).await
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
