//! What an anchor is allowed beyond the basics: a red-packet rain (an approved, unused
//! application) and selling (an approved product).

use sea_orm::{DatabaseConnection, DbErr};

/// `(red_packet, commerce)` of `user_id`.
pub async fn of(db: &DatabaseConnection, user_id: i64) -> Result<(bool, bool), DbErr> {
    Ok((super::rains::has_usable(db, user_id).await?, super::commerce::has_approved(db, user_id).await?))
}
