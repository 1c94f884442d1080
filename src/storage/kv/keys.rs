//! Every key-value key the app writes, in one place: what each holds and for how long is
//! written beside it. Keys are relative: each store adds its own prefix (`redis.prefix`).
//! Several nodes share these keys; a key that a Lua script touches together with another must
//! keep both in one hash slot (a `{...}` hash tag) on a Redis Cluster.

/// A login session, by the SHA-256 of its token: `"{user_id}:{phone}"`, `auth.token_ttl_s`.
pub fn session(token_hash: &str) -> String {
    format!("sess:{token_hash}")
}

/// The login code sent to a phone, `auth.code_ttl_s`.
pub fn sms_code(phone: &str) -> String {
    format!("sms:code:{phone}")
}

/// Held while a code may not be sent again to a phone, `auth.resend_after_s`.
pub fn sms_lock(phone: &str) -> String {
    format!("sms:lock:{phone}")
}

/// Wrong codes tried for a phone in the current window, `auth.wrong_code_window_s`.
pub fn sms_fails(phone: &str) -> String {
    format!("sms:fail:{phone}")
}

/// A one-use WebSocket ticket: `"{user_id}:{room_id}"`, `room.ticket_ttl_s`.
pub fn ticket(ticket: &str) -> String {
    format!("ticket:{ticket}")
}

/// A rate-limit window's counter (`key` names the action and who).
pub fn rate(key: &str) -> String {
    format!("rl:{key}")
}

/// A user's cart in a room: a hash of product id → count, `commerce.cart_ttl_s`.
pub fn cart(user_id: i64, room_id: i64) -> String {
    format!("cart:{user_id}:{room_id}")
}

/// Notices not yet acknowledged by a user: a hash of notice id → frame.
pub fn notices(user_id: i64) -> String {
    format!("notices:{user_id}")
}

/// Who is in a room, per node: a hash, refreshed while sockets are open.
pub fn presence_room(room_id: i64) -> String {
    format!("presence:room:{room_id}")
}

/// Which nodes a user has sockets on: a hash, refreshed while sockets are open.
pub fn presence_user(user_id: i64) -> String {
    format!("presence:user:{user_id}")
}

/// Held while one challenger joins a room's PK (across nodes), 5 s at most.
/// A kick's hold: until when (ms) the user may not come back into the room.
pub fn kicked(room_id: i64, user_id: i64) -> String {
    format!("kicked:{room_id}:{user_id}")
}

pub fn pk_join_lock(room_id: i64) -> String {
    format!("pk_join:{room_id}")
}
