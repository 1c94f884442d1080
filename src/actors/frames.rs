//! WebSocket frames: `{"type", "seq"?, "data"?}`, encoded once into shared bytes.

use crate::domain::error::ErrorCode;
use crate::domain::events::{EventData, RoomEvent};
use bytestring::ByteString;
use serde::Serialize;

#[derive(Serialize)]
struct Frame<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// Encodes a frame once; cloning the result shares the bytes.
pub fn encode<T: Serialize>(kind: &str, seq: Option<u64>, data: Option<&T>) -> ByteString {
    let s = serde_json::to_string(&Frame { kind, seq, data }).unwrap_or_else(|_| format!(r#"{{"type":"{kind}"}}"#));
    ByteString::from(s)
}

/// A room event's frame: `{"type", "seq", "data"}`.
pub fn event(seq: u64, e: &RoomEvent) -> ByteString {
    encode(e.kind(), Some(seq), Some(&EventData(e)))
}

pub fn bare(kind: &str) -> ByteString {
    encode::<()>(kind, None, None)
}

pub fn error(code: ErrorCode, message: &str) -> ByteString {
    encode("error", None, Some(&serde_json::json!({"code": code, "message": message})))
}
