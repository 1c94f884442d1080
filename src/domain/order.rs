//! An order's state machine: `pending` until it is paid or expires, then settled for good.

use super::status::status_enum;

status_enum! {
    /// An order's status; the contract's `order.status`.
    pub enum OrderStatus("order") {
        /// Its stock is reserved until `expires_at`.
        Pending = "pending",
        Paid = "paid",
        /// Not paid in time: its stock went back.
        Expired = "expired",
    }
}

/// Why an order cannot move: it left `pending` already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Settled {
    #[error("the order is paid already")]
    Paid,
    #[error("the order expired")]
    Expired,
}

impl OrderStatus {
    /// pending → paid.
    pub fn pay(self) -> Result<OrderStatus, Settled> {
        self.pending().map(|()| Self::Paid)
    }

    /// pending → expired (its stock returns).
    pub fn expire(self) -> Result<OrderStatus, Settled> {
        self.pending().map(|()| Self::Expired)
    }

    fn pending(self) -> Result<(), Settled> {
        match self {
            Self::Pending => Ok(()),
            Self::Paid => Err(Settled::Paid),
            Self::Expired => Err(Settled::Expired),
        }
    }
}

/// Whether an order expiring at `expires_at` is past its time at `now` (ms): from then on it
/// can only expire.
pub fn is_overdue(expires_at: i64, now: i64) -> bool {
    expires_at <= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_order_moves() {
        assert_eq!(OrderStatus::Pending.pay(), Ok(OrderStatus::Paid));
        assert_eq!(OrderStatus::Pending.expire(), Ok(OrderStatus::Expired));
        assert_eq!(OrderStatus::Paid.pay(), Err(Settled::Paid));
        assert_eq!(OrderStatus::Paid.expire(), Err(Settled::Paid));
        assert_eq!(OrderStatus::Expired.pay(), Err(Settled::Expired));
        assert_eq!(OrderStatus::Expired.expire(), Err(Settled::Expired));
    }

    #[test]
    fn an_order_is_overdue_from_its_expiry_on() {
        assert!(!is_overdue(1_000, 999));
        assert!(is_overdue(1_000, 1_000));
        assert!(is_overdue(1_000, 1_001));
    }
}
