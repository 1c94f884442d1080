//! Finds or starts a room's actor.

#[derive(Clone, Default)]
pub struct RoomRegistry {}
