//! Client frames: one text frame read into a reply for this socket only or a command for the
//! room (or the notices), and the commands sent on their way one at a time, in order. Likes
//! are coalesced by the loop and sent without waiting, so they never overfill the room's
//! mailbox.

use super::session::Socket;
use crate::actors::{frames, room};
use crate::domain::error::ErrorCode;
use crate::domain::room::parse_like_count;
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// A command of this socket for the room (or the notices), sent one at a time, in order.
pub(super) enum Work {
    Chat(String),
    Resume(u64),
    Ack(String),
}

/// What a client frame asks of the loop.
pub(super) enum Step {
    Reply(ByteString),
    Pong(Bytes),
    Do(Work),
    Like(i64),
}

/// Reads one client text frame: a reply for this socket only, or something for the loop to do.
pub(super) fn on_text(text: &str) -> Step {
    let Ok(f) = serde_json::from_str::<ClientFrame>(text) else {
        return Step::Reply(frames::error(ErrorCode::InvalidFrame, "a frame is JSON: {\"type\", \"data\"?}"));
    };
    match f.kind.as_str() {
        "ping" => Step::Reply(frames::bare("pong")),
        "chat" => match f.data.get("text").and_then(Value::as_str) {
            Some(text) => Step::Do(Work::Chat(text.to_owned())),
            None => Step::Reply(frames::error(ErrorCode::InvalidFrame, "chat needs data.text")),
        },
        "like" => {
            let count = match f.data.get("count") {
                None | Some(Value::Null) => Ok(1),
                Some(v) => v.as_i64().ok_or(()).and_then(|c| parse_like_count(Some(c)).map_err(|_| ())),
            };
            match count {
                Ok(c) => Step::Like(c),
                Err(()) => Step::Reply(frames::error(ErrorCode::InvalidInput, "like count must be 1 to 50")),
            }
        }
        "ack" => match f.data.get("id").and_then(Value::as_str) {
            Some(id) => Step::Do(Work::Ack(id.to_owned())),
            None => Step::Reply(frames::error(ErrorCode::InvalidFrame, "ack needs data.id")),
        },
        "resume" => match f.data.get("last_seq").and_then(Value::as_u64) {
            Some(last_seq) => Step::Do(Work::Resume(last_seq)),
            None => Step::Reply(frames::error(ErrorCode::InvalidFrame, "resume needs data.last_seq")),
        },
        _ => Step::Reply(frames::error(ErrorCode::InvalidFrame, "unknown frame type")),
    }
}

impl Socket {
    /// Sends this socket's coalesced likes without waiting and without overfilling the room's
    /// mailbox; answers what is left to send later (all of it when the mailbox is full).
    pub(super) fn send_likes(&self, count: i64) -> i64 {
        match self.addr.try_send(room::Like { count }) {
            Ok(()) => 0,
            Err(actix::prelude::SendError::Full(_)) => count,
            Err(actix::prelude::SendError::Closed(_)) => 0,
        }
    }

    /// Sends one command on its way; the future answers a frame for this socket, if any. The
    /// room is asked with `send`, which waits for room in its mailbox instead of overfilling it.
    pub(super) fn start(&self, w: Work) -> LocalBoxFuture<'static, Option<ByteString>> {
        match w {
            Work::Chat(text) => {
                let req = self.addr.send(room::Chat { socket_id: self.handle.id, text });
                Box::pin(async move {
                    match req.await {
                        Ok(Ok(())) => None,
                        Ok(Err(r)) => {
                            let mut data = serde_json::json!({"code": r.code, "message": r.message});
                            if let Some(s) = r.retry_after {
                                data["retry_after"] = s.into();
                            }
                            Some(frames::encode("error", None, Some(&data)))
                        }
                        Err(_) => Some(frames::error(ErrorCode::Unavailable, "the room is not answering; try again")),
                    }
                })
            }
            Work::Resume(last_seq) => {
                let req = self.addr.send(room::Resume { socket_id: self.handle.id, last_seq });
                Box::pin(async move {
                    match req.await {
                        Ok(()) => None,
                        Err(_) => {
                            Some(frames::error(ErrorCode::Unavailable, "the room is not answering; send resume again"))
                        }
                    }
                })
            }
            Work::Ack(id) => {
                let notices = self.state.notices.clone();
                let user_id = self.user.id;
                Box::pin(async move {
                    if let Err(e) = notices.ack(user_id, &id).await {
                        tracing::warn!(error = %e, "notice ack failed");
                    }
                    None
                })
            }
        }
    }
}
