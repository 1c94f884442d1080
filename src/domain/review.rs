//! Review by an admin: what an anchor applies for (a red-packet application, a product) waits
//! `pending` until an admin approves or rejects it, once.

use super::status::Status;

/// An admin's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// The thing was decided otherwise already (`409 not_pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decided already")]
pub struct NotPending;

/// A status under review: pending, then approved or rejected.
pub trait Reviewed: Status {
    const PENDING: Self;
    const APPROVED: Self;
    const REJECTED: Self;

    /// The status a decision moves a pending thing to. Deciding the same way again is no
    /// change (a retried approve answers the approved thing); anything else was decided
    /// already.
    fn decide(self, d: Decision) -> Result<Self, NotPending> {
        let to = match d {
            Decision::Approve => Self::APPROVED,
            Decision::Reject => Self::REJECTED,
        };
        if self == Self::PENDING || self == to {
            Ok(to)
        } else {
            Err(NotPending)
        }
    }
}
