//! sea-orm entities, one file per table. Times are milliseconds since the Unix epoch (UTC).

pub mod delayed_jobs;
pub mod id_segments;
pub mod live_anchors;
pub mod room_bans;
pub mod rooms;
pub mod trades;
pub mod users;
pub mod wallets;
