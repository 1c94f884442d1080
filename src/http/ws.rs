//! The WebSocket: one task per socket. It checks the one-use ticket at the handshake, joins the
//! room actor, then reads client frames (forwarding commands to the room) and writes what the
//! room queued for it. Heartbeat timeout, frame size and slow-viewer kills close it with the
//! contract's codes.

use super::error::{AppError, AppResult};
use super::rooms::{room_actor, ticket_key};
use super::state::AppState;
use super::views::{user_view, UserRef};
use crate::actors::hub::{close, SocketHandle};
use crate::actors::{frames, room};
use crate::domain::room::{parse_like_count, LIVE};
use crate::storage::{rooms, users};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, ProtocolError, Session};
use bytestring::ByteString;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Largest client frame; larger closes the socket with 1009.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(upgrade));
}

#[derive(Deserialize)]
pub struct TicketQuery {
    pub ticket: Option<String>,
}

/// The handshake: a bad, used or expired ticket gets 401 here.
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    q: web::Query<TicketQuery>,
) -> AppResult<HttpResponse> {
    let bad = || AppError::Unauthorized("unauthorized", "the ticket is invalid, used or expired".into());
    let ticket = q.ticket.clone().filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(bad)?;
    let value = state.b.kv.take(&ticket_key(&ticket)).await?.ok_or_else(bad)?;
    let (user_id, room_id) = value
        .split_once(':')
        .and_then(|(u, r)| Some((u.parse::<i64>().ok()?, r.parse::<i64>().ok()?)))
        .ok_or_else(bad)?;
    let r = rooms::find(&state.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    if r.status != LIVE {
        return Err(AppError::conflict("room_closed", "the room is closed"));
    }
    if rooms::is_banned(&state.b.db, room_id, user_id).await? {
        return Err(AppError::Forbidden("banned", "you are banned from this room".into()));
    }
    let u = users::find(&state.b.db, user_id).await?.ok_or_else(bad)?;
    let you = serde_json::to_value(user_view(&state, &u).await?).map_err(AppError::internal)?;
    let addr = room_actor(&state, &r).await?;
    let (res, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| AppError::bad(format!("not a WebSocket handshake: {e}")))?;
    let stream = stream.max_frame_size(MAX_CLIENT_FRAME);
    let user = UserRef { id: u.id, nickname: u.nickname.clone() };
    actix_web::rt::spawn(run(state.get_ref().clone(), addr, r.id, user, you, session, stream));
    Ok(res)
}

#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

async fn close_with(session: Session, code: u16, why: &str) {
    let _ = session.close(Some(CloseReason { code: CloseCode::Other(code), description: Some(why.to_owned()) })).await;
}

async fn run(
    state: AppState,
    addr: actix::Addr<room::Room>,
    room_id: i64,
    user: UserRef,
    you: Value,
    mut session: Session,
    mut stream: MessageStream,
) {
    crate::metrics::WS_CONNECTIONS.inc();
    let (handle, mut rx) = SocketHandle::new(user.id, state.settings.room.queue_size);
    state.notices.hub.add(&handle);
    let joined = addr.send(room::Join { user: user.clone(), you, handle: handle.clone() }).await;
    let welcome = match joined {
        Ok(Ok(w)) => w,
        Ok(Err(_)) | Err(_) => {
            state.notices.hub.remove(&handle);
            crate::metrics::WS_CONNECTIONS.dec();
            close_with(session, close::ROOM_CLOSED, "room closed").await;
            return;
        }
    };
    state.presence.changed(room_id, user.id, 1);
    let mut ok = session.text(welcome).await.is_ok();
    if ok {
        if let Ok(pending) = state.notices.pending(user.id).await {
            for f in pending {
                if session.text(f).await.is_err() {
                    ok = false;
                    break;
                }
            }
        }
    }
    let timeout = Duration::from_secs(state.settings.room.heartbeat_timeout_s);
    let mut last_heard = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut close: Option<(u16, &'static str)> = None;
    while ok {
        tokio::select! {
            biased;
            code = handle.kill.fired() => {
                if code != close::TOO_SLOW {
                    // Flush what the room queued before the close (e.g. `room_closed`).
                    while let Ok(f) = rx.try_recv() {
                        if session.text(f).await.is_err() { break; }
                    }
                }
                close = Some((code, match code {
                    close::TOO_SLOW => "too slow",
                    close::KICKED => "kicked",
                    close::ROOM_CLOSED => "room closed",
                    _ => "closed",
                }));
                break;
            }
            out = rx.recv() => {
                let Some(f) = out else { break };
                if session.text(f).await.is_err() { break; }
            }
            msg = stream.recv() => {
                match msg {
                    None => break,
                    Some(Err(ProtocolError::Overflow)) => {
                        let _ = session.clone().close(Some(CloseReason { code: CloseCode::Size, description: Some("frame over 4 KiB".into()) })).await;
                        ok = false;
                    }
                    Some(Err(_)) => break,
                    Some(Ok(m)) => {
                        last_heard = Instant::now();
                        match m {
                            Message::Text(t) => {
                                if let Some(reply) = on_text(&state, &addr, &handle, &user, &t).await {
                                    if session.text(reply).await.is_err() { break; }
                                }
                            }
                            Message::Binary(_) => {
                                if session.text(frames::error("invalid_frame", "frames are JSON text")).await.is_err() { break; }
                            }
                            Message::Ping(p) => { if session.pong(&p).await.is_err() { break; } }
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                }
            }
            _ = tick.tick() => {
                if last_heard.elapsed() > timeout {
                    close = Some((close::HEARTBEAT, "heartbeat timeout"));
                    break;
                }
            }
        }
    }
    addr.do_send(room::Leave { socket_id: handle.id });
    state.presence.changed(room_id, user.id, -1);
    state.notices.hub.remove(&handle);
    crate::metrics::WS_CONNECTIONS.dec();
    if let Some((code, why)) = close {
        close_with(session, code, why).await;
    } else if ok {
        let _ = session.close(None).await;
    }
}

/// Handles one client text frame; returns a frame for this socket only, if any.
async fn on_text(
    state: &AppState,
    addr: &actix::Addr<room::Room>,
    handle: &SocketHandle,
    user: &UserRef,
    text: &str,
) -> Option<ByteString> {
    let Ok(f) = serde_json::from_str::<ClientFrame>(text) else {
        return Some(frames::error("invalid_frame", "a frame is JSON: {\"type\", \"data\"?}"));
    };
    match f.kind.as_str() {
        "ping" => Some(frames::bare("pong")),
        "chat" => {
            let Some(text) = f.data.get("text").and_then(Value::as_str) else {
                return Some(frames::error("invalid_frame", "chat needs data.text"));
            };
            match addr.send(room::Chat { socket_id: handle.id, text: text.to_owned() }).await {
                Ok(Ok(())) => None,
                Ok(Err(r)) => {
                    let mut data = serde_json::json!({"code": r.code, "message": r.message});
                    if let Some(s) = r.retry_after {
                        data["retry_after"] = s.into();
                    }
                    Some(frames::encode("error", None, Some(&data)))
                }
                Err(_) => Some(frames::error("unavailable", "the room is not answering; try again")),
            }
        }
        "like" => {
            let count = match f.data.get("count") {
                None | Some(Value::Null) => Ok(1),
                Some(v) => v.as_i64().ok_or(()).and_then(|c| parse_like_count(Some(c)).map_err(|_| ())),
            };
            match count {
                Ok(c) => {
                    addr.do_send(room::Like { count: c });
                    None
                }
                Err(()) => Some(frames::error("invalid_input", "like count must be 1 to 50")),
            }
        }
        "ack" => match f.data.get("id").and_then(Value::as_str) {
            Some(id) => {
                if let Err(e) = state.notices.ack(user.id, id).await {
                    tracing::warn!(error = %e, "notice ack failed");
                }
                None
            }
            None => Some(frames::error("invalid_frame", "ack needs data.id")),
        },
        "resume" => match f.data.get("last_seq").and_then(Value::as_u64) {
            Some(last_seq) => {
                addr.do_send(room::Resume { socket_id: handle.id, last_seq });
                None
            }
            None => Some(frames::error("invalid_frame", "resume needs data.last_seq")),
        },
        _ => Some(frames::error("invalid_frame", "unknown frame type")),
    }
}
