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
    pub async fn room_opened(&self, _state: &AppState, _room: &rooms::Model) -> AppResult<()> {
        Ok(())
    }

    /// A room is closing: whatever runs in it ends.
    pub async fn room_closing(&self, _state: &AppState, _room: &rooms::Model) -> AppResult<()> {
        Ok(())
    }

    /// `GET /api/rooms/{id}`: the room's PK, rain and products where they apply.
    pub async fn decorate(
        &self,
        _state: &AppState,
        _room: &rooms::Model,
        _view: &mut RoomView,
    ) -> AppResult<()> {
        Ok(())
    }

    /// The room list: PK rooms show their PK.
    pub async fn decorate_listed(
        &self,
        _state: &AppState,
        _room: &rooms::Model,
        _view: &mut RoomView,
    ) -> AppResult<()> {
        Ok(())
    }
}
