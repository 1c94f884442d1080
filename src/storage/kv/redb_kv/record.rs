//! Record layout inside the one table `kv` (`&str` → bytes): one kind byte (`0` string, `1`
//! hash), the expiry as wall-clock milliseconds since the Unix epoch (u64 little-endian, `0` for
//! none; wall clock so that a TTL keeps running across a restart), then the value: the string's
//! UTF-8, or the hash as a JSON object of strings. An expired record reads as absent; the
//! flusher's sweep removes it from the file later.

use super::{err, Table};
use crate::storage::kv::KvResult;
use redb::ReadableTable;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KIND_STR: u8 = 0;
const KIND_HASH: u8 = 1;

pub(super) enum Value {
    Str(String),
    Hash(HashMap<String, String>),
}

pub(super) struct Record {
    pub(super) value: Value,
    /// Wall-clock ms; 0: no expiry.
    pub(super) expires: u64,
}

impl Record {
    pub(super) fn live(&self, now: u64) -> bool {
        self.expires == 0 || self.expires > now
    }

    fn encode(&self) -> Vec<u8> {
        let (kind, body) = match &self.value {
            Value::Str(s) => (KIND_STR, s.as_bytes().to_vec()),
            Value::Hash(h) => (KIND_HASH, serde_json::to_vec(h).unwrap_or_default()),
        };
        let mut out = Vec::with_capacity(9 + body.len());
        out.push(kind);
        out.extend_from_slice(&self.expires.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// None for bytes this module did not write (treated as absent).
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 9 {
            return None;
        }
        let expires = u64::from_le_bytes(bytes[1..9].try_into().ok()?);
        let body = &bytes[9..];
        let value = match bytes[0] {
            KIND_STR => Value::Str(String::from_utf8(body.to_vec()).ok()?),
            KIND_HASH => Value::Hash(serde_json::from_slice(body).ok()?),
            _ => return None,
        };
        Some(Self { value, expires })
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A TTL as an absolute expiry; at least 1 ms so that a TTL never means "no expiry".
pub(super) fn deadline(now: u64, ttl: Duration) -> u64 {
    now + (ttl.as_millis() as u64).max(1)
}

/// The live record under `key`, expired ones read as absent.
pub(super) fn load(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    now: u64,
) -> KvResult<Option<Record>> {
    Ok(table.get(key).map_err(err)?.and_then(|g| Record::decode(g.value())).filter(|r| r.live(now)))
}

pub(super) fn store(table: &mut Table<'_>, key: &str, record: &Record) -> KvResult<()> {
    table.insert(key, record.encode().as_slice()).map_err(err)?;
    Ok(())
}
