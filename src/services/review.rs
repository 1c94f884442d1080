//! An admin's review of what anchors apply for (red-packet applications, products), one shape
//! for both: find it, check it is pending (or decided the same way: a retry), store the
//! decision guarded by `pending`, and answer 409 `not_pending` when another decision won.

use super::{AppError, AppResult};
use crate::domain::error::ErrorCode;
use crate::domain::review::{Decision, Reviewed};
use crate::domain::Status;
use crate::storage::entities::{products, red_packet_applications};
use crate::storage::{commerce, rains, Stated};
use sea_orm::{DatabaseConnection, DbErr};
use std::future::Future;

/// A stored thing under review.
pub trait UnderReview: Stated<Status: Reviewed> + Sized {
    fn find(db: &DatabaseConnection, id: i64) -> impl Future<Output = Result<Option<Self>, DbErr>>;
    /// Moves it from pending to `to`; false when it was not pending.
    fn decide(db: &DatabaseConnection, id: i64, to: Self::Status) -> impl Future<Output = Result<bool, DbErr>>;
}

impl UnderReview for red_packet_applications::Model {
    async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<Self>, DbErr> {
        rains::application(db, id).await
    }
    async fn decide(db: &DatabaseConnection, id: i64, to: Self::Status) -> Result<bool, DbErr> {
        rains::decide(db, id, to).await
    }
}

impl UnderReview for products::Model {
    async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<Self>, DbErr> {
        commerce::product(db, id).await
    }
    async fn decide(db: &DatabaseConnection, id: i64, to: Self::Status) -> Result<bool, DbErr> {
        commerce::decide_product(db, id, to).await
    }
}

/// Decides the thing `id`: the row as decided. 404 when there is none; 409 `not_pending`
/// when it was decided otherwise, before or while this ran.
pub async fn decide<T: UnderReview>(db: &DatabaseConnection, id: i64, d: Decision) -> AppResult<T> {
    let what = <T::Status as Status>::WHAT;
    let not_pending = || AppError::conflict(ErrorCode::NotPending, format!("the {what} was decided already"));
    let row = T::find(db, id).await?.ok_or(AppError::NotFound(what))?;
    let to = row.state()?.decide(d).map_err(|_| not_pending())?;
    T::decide(db, id, to).await?;
    let row = T::find(db, id).await?.ok_or(AppError::NotFound(what))?;
    if !row.is(to) {
        return Err(not_pending());
    }
    Ok(row)
}
