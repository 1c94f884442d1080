//! What the app does, apart from how it is asked: the orchestration of wallet, storage and
//! actors behind every feature. An HTTP handler parses its input, calls one function here and
//! maps the answer; job handlers and sweeps live here too. Nothing here knows HTTP: services
//! take a `Services` (built once in `startup`), never the HTTP `AppState`.
//!
//! Dependencies point one way: `http` → `services` → `actors`, `storage` → `domain`.
//!
//! | file | decides |
//! |---|---|
//! | `cluster.rs` | this node among the others: membership, renewed and left |
//! | `live_room.rs` | a live room's row and actor (started when needed), the anchor check |
//! | `rain_view.rs` | what a rain shows |
//! | `rooms.rs` | opening and closing a room, its actor, what a room shows |
//! | `room_list.rs` | the live-room list snapshot |
//! | `gifts.rs` | a gift: debit, then the room's effect and the PK score, in commit order |
//! | `gift_catalogue.rs` | the gift catalogue, read once per process |
//! | `nicknames.rs` | nicknames as events show them, cached briefly (and forgotten on a rename) |
//! | `pk.rs` | a PK's start, end (timer, leave, close) and its start-up and periodic sweeps |
//! | `rain.rs` | a red-packet rain: applications, prepare, start, grab, end, sweeps |
//! | `recharges.rs` | buying coins: once per Idempotency-Key, credited once |
//! | `orders.rs` | carts, orders that reserve stock, payment and expiry |
//! | `products.rs` | products: approval and the room's shelf |
//! | `stock_gate.rs` | one reservation of a product at a time on this node; sold out answered from a fresh reading |
//! | `review.rs` | an admin's decision on an application or a product, one shape for both |
//! | `jobs.rs` | the shape of the timer jobs (PK end, rain end, order expiry) |
//! | `moderation.rs` | mutes, kicks, bans, slow mode, deleted chats (anchor or admin) |
//! | `sweeps.rs` | the periodic sweeps' one loop |
//! | `fresh.rs` | reads of a row shared by the requests that wait for them, never older than the request |
//! | `error.rs` | the one error type, with the contract's codes |

pub mod cluster;
pub mod error;
pub mod fresh;
pub mod gift_catalogue;
pub mod gifts;
pub mod jobs;
pub mod live_room;
pub mod moderation;
pub mod nicknames;
pub mod orders;
pub mod pk;
pub mod products;
pub mod rain;
pub mod rain_view;
pub mod recharges;
pub mod review;
pub mod room_list;
pub mod rooms;
pub mod stock_gate;
pub mod sweeps;

use crate::actors::notices::Notices;
use crate::actors::pk::PkService;
use crate::actors::presence::Presence;
use crate::actors::rain::RainService;
use crate::actors::registry::RoomRegistry;
use crate::settings::Settings;
use crate::storage::Backends;
use std::sync::Arc;

pub use error::{AppError, AppResult};

/// Everything a service reaches: settings, backends and the actors' handles. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub b: Backends,
    pub rooms: RoomRegistry,
    pub room_list: Arc<room_list::RoomList>,
    pub notices: Notices,
    pub pk: PkService,
    pub rain: RainService,
    pub presence: Presence,
    /// The gift catalogue, read once (only a migration changes it).
    pub gifts: Arc<gift_catalogue::GiftCatalogue>,
    /// Nicknames for events, so a gift does not read its sender's row.
    pub nicknames: Arc<nicknames::Nicknames>,
    /// What concurrent orders share: fresh product reads, the products' gates.
    pub desk: Arc<orders::OrderDesk>,
    /// This node among the others; None on a single node (`cluster.enabled` false).
    pub cluster: Option<cluster::Cluster>,
}
