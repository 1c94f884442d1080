//! Rows whose `status` column holds a domain status. The column stays text (what the tables
//! and the contract's JSON hold); code reads it through [`Stated`] and writes `as_str()`.

use super::entities::{orders, pks, products, rains, recharges, red_packet_applications};
use crate::domain::money::RechargeStatus;
use crate::domain::order::OrderStatus;
use crate::domain::pk::PkStatus;
use crate::domain::product::ProductStatus;
use crate::domain::redpacket::{ApplicationStatus, RainStatus};
use crate::domain::Status;
use sea_orm::DbErr;

/// A row with a status.
pub trait Stated {
    type Status: Status;

    /// The column as stored.
    fn status_text(&self) -> &str;

    /// Whether the row is in `s`.
    fn is(&self, s: Self::Status) -> bool {
        self.status_text() == s.as_str()
    }

    /// The row's status; text that names none is a storage error.
    fn state(&self) -> Result<Self::Status, DbErr> {
        Self::Status::parse(self.status_text()).map_err(|e| DbErr::Type(e.to_string()))
    }
}

macro_rules! stated {
    ($($model:ty => $status:ty),* $(,)?) => {$(
        impl Stated for $model {
            type Status = $status;
            fn status_text(&self) -> &str {
                &self.status
            }
        }
    )*};
}

stated!(
    orders::Model => OrderStatus,
    products::Model => ProductStatus,
    red_packet_applications::Model => ApplicationStatus,
    rains::Model => RainStatus,
    pks::Model => PkStatus,
    recharges::Model => RechargeStatus,
);
