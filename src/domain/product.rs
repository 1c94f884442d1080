//! Products of live commerce: an anchor applies to sell one; an admin reviews it.

use super::review::Reviewed;
use super::status::status_enum;

status_enum! {
    /// A product's review status; the contract's `product.status`. Only approved products are
    /// on a shelf and can be reserved.
    pub enum ProductStatus("product") {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

impl Reviewed for ProductStatus {
    const PENDING: Self = Self::Pending;
    const APPROVED: Self = Self::Approved;
    const REJECTED: Self = Self::Rejected;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::review::{Decision, NotPending};

    #[test]
    fn a_product_is_decided_once() {
        use ProductStatus::*;
        assert_eq!(Pending.decide(Decision::Approve), Ok(Approved));
        assert_eq!(Pending.decide(Decision::Reject), Ok(Rejected));
        assert_eq!(Approved.decide(Decision::Approve), Ok(Approved));
        assert_eq!(Approved.decide(Decision::Reject), Err(NotPending));
        assert_eq!(Rejected.decide(Decision::Approve), Err(NotPending));
    }
}
