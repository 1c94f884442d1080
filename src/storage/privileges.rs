//! What an anchor is allowed beyond the basics: a red-packet rain (an approved, unused
//! application) and selling (an approved product).

use sea_orm::{DatabaseConnection, DbErr};

/// `(red_packet, commerce)` of `user_id`.
pub async fn of(_db: &DatabaseConnection, _user_id: i64) -> Result<(bool, bool), DbErr> {
    // Red-packet applications and products arrive with the rain and commerce tables.
    Ok((false, false))
}
