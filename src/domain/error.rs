//! Errors of the pure rules, and the contract's error codes: every `code` an HTTP error body or
//! a WebSocket `error` frame carries is one [`ErrorCode`].

/// A value broke a rule of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    /// The input field at fault, when there is one.
    pub field: Option<&'static str>,
    pub message: String,
}

impl DomainError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self { field: Some(field), message: message.into() }
    }
}

/// Declares [`ErrorCode`] once: the variants, their snake_case names (which serde writes too,
/// a test holds them equal) and the list of them all.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// A stable snake_case error code of the contract (`docs/reference/http.md`,
        /// `docs/reference/websocket.md`). Clients branch on these; never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order they are declared.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    // One per status.
    /// 400: the body, a path or query parameter or a header is malformed or breaks a rule.
    InvalidInput = "invalid_input",
    /// 401: no valid session (or ticket, or signature).
    Unauthorized = "unauthorized",
    /// 403.
    Forbidden = "forbidden",
    /// 404.
    NotFound = "not_found",
    /// 405, with `Allow`.
    MethodNotAllowed = "method_not_allowed",
    /// 402.
    InsufficientBalance = "insufficient_balance",
    /// 410: an order past its expiry.
    Expired = "expired",
    /// 413: a body over 64 KiB.
    TooLarge = "too_large",
    /// 429 (with `Retry-After`), and the WebSocket's chat and frame limits.
    RateLimited = "rate_limited",
    /// 503 (with `Retry-After`), and a room that does not answer a socket.
    Unavailable = "unavailable",
    /// 500: the cause is logged, never sent.
    Internal = "internal",

    // 401 and 403 with a reason of their own.
    /// 401: a wrong, expired or used login code.
    InvalidCode = "invalid_code",
    /// 403: a cookie-authenticated write from another origin.
    Csrf = "csrf",
    /// 403: preparing a rain without an approved, unused application.
    NoPrivilege = "no_privilege",
    /// 403: a user banned from the room.
    Banned = "banned",
    /// 403: a user kicked from the room a short while ago (`room.kick_s`).
    Kicked = "kicked",

    // 409 conflicts.
    /// The caller already has a live room.
    AlreadyLive = "already_live",
    RoomClosed = "room_closed",
    NotPkRoom = "not_pk_room",
    /// Someone joined (or is joining) the PK already.
    PkBusy = "pk_busy",
    PkNotRunning = "pk_not_running",
    /// An application, product or order was decided (or paid) already.
    NotPending = "not_pending",
    /// A rain is being prepared, prepared or running in the room.
    RainBusy = "rain_busy",
    NotPrepared = "not_prepared",
    RainNotRunning = "rain_not_running",
    RainEmpty = "rain_empty",
    CartEmpty = "cart_empty",
    /// None of the cart's products has stock left, or a cart line asks for more than is left.
    SoldOut = "sold_out",
    /// An order would hold more than the per-product cap of pending units.
    LimitExceeded = "limit_exceeded",

    // WebSocket `error` frames only.
    /// Not JSON, an unknown type, or a required field missing.
    InvalidFrame = "invalid_frame",
    /// A command from a socket the room does not know.
    NotJoined = "not_joined",
    /// The user is muted in the room (with `retry_after`).
    Muted = "muted",
    /// Slow mode: one message every so many seconds (with `retry_after`).
    SlowMode = "slow_mode",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn serde_writes_what_as_str_says() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(serde_json::json!(c.as_str())).unwrap(), *c);
            assert_eq!(c.to_string(), c.as_str());
        }
    }

    #[test]
    fn codes_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'), "{s}");
            assert!(seen.insert(s), "{s} twice");
        }
    }
}
