//! The handshake: checks the one-use ticket, the room and the user's socket caps, then
//! upgrades the request and spawns the socket's task.

use super::session::Socket;
use super::{socket_caps, too_many_sockets, MAX_CLIENT_FRAME};
use crate::actors::hub::SocketHandle;
use crate::domain::error::ErrorCode;
use crate::domain::room::LIVE;
use crate::http::error::{AppError, AppResult};
use crate::http::rooms::ticket_key;
use crate::http::state::AppState;
use crate::http::views::{user_view, UserRef};
use crate::services::live_room::room_actor;
use crate::storage::{rooms, users};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct TicketQuery {
    pub ticket: Option<String>,
}

/// The handshake: a bad, used or expired ticket gets 401 here; a user at a socket cap 429 (the
/// ticket is spent).
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    q: web::Query<TicketQuery>,
) -> AppResult<HttpResponse> {
    let bad = || AppError::unauthorized_as(ErrorCode::Unauthorized, "the ticket is invalid, used or expired");
    let ticket = q.ticket.clone().filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(bad)?;
    let value = state.b.kv.take(&ticket_key(&ticket)).await?.ok_or_else(bad)?;
    let (user_id, room_id) = value
        .split_once(':')
        .and_then(|(u, r)| Some((u.parse::<i64>().ok()?, r.parse::<i64>().ok()?)))
        .ok_or_else(bad)?;
    let r = rooms::find(&state.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    if r.status != LIVE {
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    if rooms::is_banned(&state.b.db, room_id, user_id).await? {
        return Err(AppError::forbidden_as(ErrorCode::Banned, "you are banned from this room"));
    }
    let u = users::find(&state.b.db, user_id).await?.ok_or_else(bad)?;
    let you = serde_json::to_value(user_view(&state, &u).await?).map_err(AppError::internal)?;
    let addr = room_actor(&state, &r).await?;
    // The socket takes its place among the user's sockets before the upgrade, so parallel
    // handshakes cannot pass the caps together.
    let (handle, rx) = SocketHandle::new(u.id, r.id, state.settings.room.queue_size);
    state.notices.hub.try_add(&handle, socket_caps(&state)).map_err(too_many_sockets)?;
    let (res, session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => {
            state.notices.hub.remove(&handle);
            return Err(AppError::bad(format!("not a WebSocket handshake: {e}")));
        }
    };
    let stream = stream.max_frame_size(MAX_CLIENT_FRAME);
    let user = UserRef { id: u.id, nickname: u.nickname.clone() };
    // Held until the task ends: a stopping server waits for it (see `startup::AppHandle::stop`).
    let shutdown = state.shutdown.listen();
    let socket = Socket { state: state.get_ref().clone(), addr, room_id: r.id, user, handle, shutdown };
    actix_web::rt::spawn(socket.run(you, rx, session, stream));
    Ok(res)
}
