//! What crosses the bus between nodes: the requests, answers and tellings on a node's channel
//! (JSON envelopes), and a room's frames on the room's channel (a line-based header, then the
//! frame's bytes exactly as the home encoded them).

use crate::actors::room::{self, HomeState, Refusal};
use crate::domain::error::ErrorCode;
use crate::domain::events::{ChatLine, RoomEvent};
use crate::domain::user::UserRef;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};

/// What one node asks another about a room it is home of.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Ask {
    /// A viewer's chat on the asking node.
    Chat { user: UserRef, text: String },
    /// Where the room stands (a mirror starting).
    State,
    /// Moderation (or the close) asked of the asking node.
    Moderate(room::Moderate),
    /// A service call that runs on the room's home.
    OnHome(OnHome),
}

/// Calls a node makes on the room's home, where the room's rain is handed out and its PK's
/// actor runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OnHome {
    StartRain {
        user_id: i64,
    },
    Grab {
        user_id: i64,
    },
    Ranking,
    /// Ends the room's PK `pk_id`, for `reason`.
    EndPk {
        pk_id: i64,
        reason: crate::actors::pk::EndReason,
    },
}

/// A service call's answer across nodes: its value as JSON, or the contract error it gave.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Remote {
    pub(super) ok: Option<serde_json::Value>,
    pub(super) code: ErrorCode,
    pub(super) message: String,
}

/// The answer to an `Ask`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Answer {
    Chat(Result<(), Refusal>),
    State(Option<HomeState>),
    /// None: the home is moving; ask again.
    Moderated(Option<bool>),
    OnHome(Remote),
}

/// What one node tells another about a room, with no answer.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Tell {
    /// An event raised on the telling node, for the home to record.
    Record { event: RoomEvent, chat: Option<ChatLine> },
    /// The telling node's viewers of the room, and the likes it received and who entered.
    Counts {
        node: String,
        online: usize,
        likes: u64,
        #[serde(default)]
        entered: room::Entered,
    },
    /// A gift paid for on the telling node, for the home to count and record.
    Gift(room::GiftEffect),
    /// A notice for the user's sockets on this node (the room is 0).
    Notice { user_id: i64, frame: String },
    /// A PK's tally after a gift committed on the telling node, for the PK's actor (the room
    /// is the PK's host room).
    PkTally(crate::domain::pk::PkTally),
}

/// A message on a node's channel.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Envelope {
    Ask { id: u64, from: String, room: i64, ask: Ask },
    Answer { id: u64, answer: Answer },
    Tell { room: i64, tell: Tell },
}

pub(super) fn unavailable() -> Refusal {
    Refusal {
        code: ErrorCode::Unavailable,
        message: "the room is not answering; try again".into(),
        retry_after: Some(1),
    }
}

/// What a room's channel carries.
pub(super) enum RoomHeard {
    Frame(room::Recorded),
    /// An un-numbered snapshot (`online`, `likes`).
    Unnumbered(room::Unnumbered),
    /// The home kicked this user: their sockets close on every node.
    Kick(i64),
}

/// A message on a room's channel: a number (the seq, then a space and the home's lease epoch;
/// a user id for `k`), a newline, `e` (an
/// event), `r` (a resync from a home that took over), `u` (an un-numbered snapshot; the number
/// is 0) or `k` (a kick), a newline, its chat line as JSON (empty when it is not a
/// chat), a newline, then the frame's bytes exactly as the home encoded them.
pub(super) fn encode_unnumbered(frame: &ByteString) -> Vec<u8> {
    let mut out = b"0\nu\n\n".to_vec();
    out.extend_from_slice(frame.as_bytes());
    out
}

pub(super) fn encode_frame(seq: u64, epoch: u64, frame: &ByteString, chat: Option<&ChatLine>, resync: bool) -> Vec<u8> {
    let chat = chat.and_then(|c| serde_json::to_vec(c).ok()).unwrap_or_default();
    let mut out = Vec::with_capacity(32 + chat.len() + frame.len());
    out.extend_from_slice(format!("{seq} {epoch}").as_bytes());
    out.push(b'\n');
    out.push(if resync { b'r' } else { b'e' });
    out.push(b'\n');
    out.extend_from_slice(&chat);
    out.push(b'\n');
    out.extend_from_slice(frame.as_bytes());
    out
}

pub(super) fn encode_kick(user_id: i64) -> Vec<u8> {
    format!("{user_id}\nk\n\n").into_bytes()
}

pub(super) fn decode_frame(payload: &[u8]) -> Option<RoomHeard> {
    let mut parts = payload.splitn(4, |b| *b == b'\n');
    let number = std::str::from_utf8(parts.next()?).ok()?;
    let resync = match parts.next()? {
        b"e" => false,
        b"r" => true,
        b"k" => return Some(RoomHeard::Kick(number.parse().ok()?)),
        b"u" => {
            parts.next()?;
            let frame = ByteString::try_from(parts.next()?.to_vec()).ok()?;
            return Some(RoomHeard::Unnumbered(room::Unnumbered { frame }));
        }
        _ => return None,
    };
    let (seq, epoch) = number.split_once(' ').unwrap_or((number, "0"));
    let (seq, epoch) = (seq.parse().ok()?, epoch.parse().ok()?);
    let chat = parts.next()?;
    let chat = if chat.is_empty() { None } else { Some(serde_json::from_slice(chat).ok()?) };
    let frame = ByteString::try_from(parts.next()?.to_vec()).ok()?;
    Some(RoomHeard::Frame(room::Recorded { seq, epoch, frame, chat, resync }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_room_frame_crosses_the_bus_unchanged() {
        let frame = ByteString::from(r#"{"type":"chat","seq":7,"data":{"text":"a\nb"}}"#);
        let chat = ChatLine {
            at: "2026-11-30T00:00:00Z".into(),
            from: UserRef { id: 3, nickname: "x".into() },
            text: "a\nb".into(),
        };
        let Some(RoomHeard::Frame(r)) = decode_frame(&encode_frame(7, 2, &frame, Some(&chat), false)) else { panic!() };
        assert_eq!((r.seq, r.epoch, &r.frame, r.chat.as_ref(), r.resync), (7, 2, &frame, Some(&chat), false));
        let Some(RoomHeard::Frame(r)) = decode_frame(&encode_frame(8, 3, &frame, None, true)) else { panic!() };
        assert_eq!((r.seq, r.epoch, r.chat, r.resync), (8, 3, None, true));
        assert!(matches!(decode_frame(&encode_kick(42)), Some(RoomHeard::Kick(42))));
        let Some(RoomHeard::Unnumbered(u)) = decode_frame(&encode_unnumbered(&frame)) else { panic!() };
        assert_eq!(u.frame, frame);
        assert!(decode_frame(b"7\nx\n\n{}").is_none());
    }
}
