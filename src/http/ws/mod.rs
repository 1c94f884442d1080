//! The WebSocket: one task per socket. The handshake checks the one-use ticket and the user's
//! socket caps, then takes the connection out of actix-http (`handshake`); frames are read and
//! written on it with buffers that exist only while they hold bytes (`conn`). The task joins the
//! room actor, then runs one select loop that
//! writes what the room queued for it, reads client frames, sends its commands to the room one
//! at a time and watches the heartbeat, the kill switch and the server's shutdown signal, all
//! at once: no write, room reply or client can hold the others up (`session`). Client frames
//! are held to a budget (`budget`), and read into replies or room commands (`commands`); the
//! socket ends with a bounded goodbye (`close`).

mod budget;
mod close;
mod commands;
mod conn;
mod handshake;
mod session;

use super::error::AppError;
use super::state::AppState;
use crate::actors::hub::SocketCaps;
use actix_web::web;

pub use handshake::{switch, TicketQuery};

/// Largest client frame; larger closes the socket with 1009.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(handshake::not_upgraded));
}

/// The caps on one user's sockets on this node (none when `limits.enabled=false`).
pub fn socket_caps(state: &AppState) -> SocketCaps {
    if !state.settings.limits.enabled {
        return SocketCaps::NONE;
    }
    SocketCaps {
        per_room: state.settings.room.max_sockets_per_user_per_room,
        per_user: state.settings.room.max_sockets_per_user,
    }
}

/// 429 for a user at a socket cap. A socket cap is not a time window: try again once one of
/// the user's sockets is closed.
pub fn too_many_sockets(why: &str) -> AppError {
    AppError::RateLimited { retry_after_s: 5, message: format!("{why}; close one first") }
}
