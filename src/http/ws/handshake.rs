//! The handshake. actix-http hands every request that asks to switch protocols to [`switch`]
//! with its connection; a WebSocket request for `/ws` is checked (the one-use ticket, the room,
//! the user's socket caps), answered 101, and its connection becomes the socket's own (see
//! `conn`): actix-http's per-connection buffers go with the HTTP part. Anything else, and every
//! refusal, is answered with the contract's JSON error and the connection is closed.

use super::conn::Conn;
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
use actix_codec::Framed;
use actix_http::{h1, ws, Request};
use actix_web::{web, HttpResponse, ResponseError};
use bytes::BytesMut;
use serde::Deserialize;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Deserialize)]
pub struct TicketQuery {
    pub ticket: Option<String>,
}

/// `GET /ws` that does not ask to switch protocols (a WebSocket handshake never reaches the
/// routes: see [`switch`]).
pub async fn not_upgraded() -> AppResult<HttpResponse> {
    Err(AppError::bad("not a WebSocket handshake: send Connection: Upgrade and Upgrade: websocket"))
}

/// A socket admitted by the handshake's checks, not yet upgraded.
struct Admitted {
    socket: Socket,
    you: serde_json::Value,
    rx: tokio::sync::mpsc::Receiver<crate::actors::hub::Outbound>,
}

/// The checks: a bad, used or expired ticket gets 401; a closed room 409; a banned user 403; a
/// user at a socket cap 429 (the ticket is spent).
async fn admit(state: &AppState, query: &str) -> AppResult<Admitted> {
    let bad = || AppError::unauthorized_as(ErrorCode::Unauthorized, "the ticket is invalid, used or expired");
    let q = web::Query::<TicketQuery>::from_query(query).map_err(|_| bad())?;
    let ticket = q.0.ticket.filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(bad)?;
    let value = state.b.kv.take(&ticket_key(&ticket)).await?.ok_or_else(bad)?;
    let (user_id, room_id) = value
        .split_once(':')
        .and_then(|(u, r)| Some((u.parse::<i64>().ok()?, r.parse::<i64>().ok()?)))
        .ok_or_else(bad)?;
    let r = rooms::find(&state.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    if r.status != LIVE {
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    crate::services::moderation::may_enter(state, room_id, user_id).await?;
    let u = users::find(&state.b.db, user_id).await?.ok_or_else(bad)?;
    let you = serde_json::to_value(user_view(state, &u).await?).map_err(AppError::internal)?;
    let addr = room_actor(state, &r).await?;
    // The socket takes its place among the user's sockets before the upgrade, so parallel
    // handshakes cannot pass the caps together.
    let (handle, rx) = SocketHandle::new(u.id, r.id, state.settings.room.queue_size);
    state.notices.hub.try_add(&handle, socket_caps(state)).map_err(too_many_sockets)?;
    let user = UserRef { id: u.id, nickname: u.nickname.clone() };
    // Held until the task ends: a stopping server waits for it (see `startup::AppHandle::stop`).
    let shutdown = state.shutdown.listen();
    let socket = Socket { state: state.clone(), addr, room_id: r.id, user, handle, shutdown };
    Ok(Admitted { socket, you, rx })
}

/// actix-http's upgrade service: every request with `Connection: Upgrade` comes here with its
/// connection, whatever its path.
pub async fn switch(state: AppState, req: Request, framed: Framed<TcpStream, h1::Codec>) {
    let parts = framed.into_parts();
    let (mut io, early) = (parts.io, parts.read_buf);
    let limit = Duration::from_secs(state.settings.room.write_timeout_s);
    let admitted = if req.path() != "/ws" {
        Err(AppError::NotFound("route"))
    } else if let Err(e) = ws::verify_handshake(req.head()) {
        Err(AppError::bad(format!("not a WebSocket handshake: {e}")))
    } else {
        admit(&state, req.uri().query().unwrap_or("")).await
    };
    match admitted {
        Err(e) => {
            let _ = tokio::time::timeout(limit, refuse(&mut io, &e)).await;
        }
        Ok(a) => {
            // verify_handshake has checked the key.
            let key =
                req.head().headers().get(actix_http::header::SEC_WEBSOCKET_KEY).map(|k| ws::hash_key(k.as_bytes()));
            let accept = key.map(|k| String::from_utf8_lossy(&k).into_owned()).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            let sent = tokio::time::timeout(limit, io.write_all(head.as_bytes())).await;
            if !matches!(sent, Ok(Ok(()))) {
                state.notices.hub.remove(&a.socket.handle);
                return;
            }
            // The socket lives on its room's socket arbiter (`RoomRegistry::socket_arbiter`), not
            // on the HTTP worker: its long-lived state is not wedged between the short-lived
            // buffers of the worker's handshakes (that cost an idle viewer 18 KiB of RSS for
            // 5 KiB of live memory). The stream is re-registered there.
            let handle = a.socket.handle.clone();
            let hub = state.notices.hub.clone();
            let Ok(std_io) = io.into_std() else {
                hub.remove(&handle);
                return;
            };
            // actix-http's 8 KiB read buffer comes with the bytes read early: keep only them.
            let early = if early.is_empty() { BytesMut::new() } else { BytesMut::from(&early[..]) };
            let started =
                state.rooms.socket_arbiter(a.socket.room_id).spawn_fn(move || match TcpStream::from_std(std_io) {
                    Ok(io) => {
                        actix_web::rt::spawn(a.socket.run(a.you, a.rx, Conn::new(io, early, MAX_CLIENT_FRAME)));
                    }
                    Err(_) => a.socket.state.notices.hub.remove(&a.socket.handle),
                });
            if !started {
                hub.remove(&handle);
            }
        }
    }
}

/// Answers a refused handshake with the contract's error (status, headers, JSON body) and
/// closes the connection.
async fn refuse(io: &mut TcpStream, e: &AppError) -> std::io::Result<()> {
    let res = e.error_response();
    let status = res.status();
    let mut head = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    for (name, value) in res.headers() {
        if name != actix_http::header::CONTENT_LENGTH && name != actix_http::header::CONNECTION {
            head.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
        }
    }
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    // One write: a client that reads the head may not wait for a body sent apart.
    let mut all = head.into_bytes();
    all.extend_from_slice(&body);
    io.write_all(&all).await?;
    io.shutdown().await
}
