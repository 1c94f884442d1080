//! sea-orm entities, one file per table. Times are milliseconds since the Unix epoch (UTC).

pub mod delayed_jobs;
pub mod earnings;
pub mod gift_sends;
pub mod gifts;
pub mod id_segments;
pub mod live_anchors;
pub mod order_items;
pub mod orders;
pub mod outbox;
pub mod pks;
pub mod products;
pub mod rains;
pub mod recharge_products;
pub mod recharges;
pub mod red_packet_applications;
pub mod red_packets;
pub mod room_bans;
pub mod room_mutes;
pub mod rooms;
pub mod trades;
pub mod users;
pub mod wallets;
