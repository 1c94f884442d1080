//! Coins: whole, non-negative amounts, and the kinds of trade that move them.

use super::status::status_enum;
use super::DomainError;

status_enum! {
    /// A recharge: pending until its coins are credited (at once with the simulated payment
    /// provider, at the provider's signed notify otherwise), then paid.
    pub enum RechargeStatus("recharge") {
        Pending = "pending",
        Paid = "paid",
    }
}

/// Kinds of wallet trade; the string form is the contract's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeKind {
    Recharge,
    Gift,
    RedPacket,
    RainFund,
    RainRefund,
    Order,
}

impl TradeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recharge => "recharge",
            Self::Gift => "gift",
            Self::RedPacket => "red_packet",
            Self::RainFund => "rain_fund",
            Self::RainRefund => "rain_refund",
            Self::Order => "order",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recharge" => Self::Recharge,
            "gift" => Self::Gift,
            "red_packet" => Self::RedPacket,
            "rain_fund" => Self::RainFund,
            "rain_refund" => Self::RainRefund,
            "order" => Self::Order,
            _ => return None,
        })
    }
}

/// A count of 1..=max (gift counts, cart counts).
pub fn count_in(field: &'static str, v: i64, max: i64) -> Result<i64, DomainError> {
    if (1..=max).contains(&v) {
        Ok(v)
    } else {
        Err(DomainError::field(field, format!("{field} must be 1 to {max}")))
    }
}

/// `price * count` without overflow.
pub fn cost(price: i64, count: i64) -> Option<i64> {
    price.checked_mul(count)
}
