//! Actors: one per live room, with its PK and red-packet rain beside it, and the registry that
//! finds or starts a room's actor.

pub mod frames;
pub mod hub;
pub mod notices;
pub mod pk;
pub mod presence;
pub mod rain;
pub mod registry;
pub mod room;
