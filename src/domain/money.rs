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

/// The platform's share of `coins` paid to an anchor, at `share_pct` percent, rounded down (the
/// anchor keeps the odd coin).
pub fn platform_fee(coins: i64, share_pct: u8) -> i64 {
    (i128::from(coins) * i128::from(share_pct.min(100)) / 100) as i64
}

/// `price * count` without overflow.
pub fn cost(price: i64, count: i64) -> Option<i64> {
    price.checked_mul(count)
}

#[cfg(test)]
mod tests {
    use super::platform_fee;

    #[test]
    fn the_platform_takes_its_share_rounded_down() {
        assert_eq!(platform_fee(100, 50), 50);
        assert_eq!(platform_fee(35, 50), 17, "the anchor keeps the odd coin");
        assert_eq!(platform_fee(1, 50), 0);
        assert_eq!(platform_fee(99, 0), 0);
        assert_eq!(platform_fee(99, 100), 99);
        assert_eq!(platform_fee(99, 250), 99, "never more than all of it");
        assert_eq!(platform_fee(i64::MAX, 50), i64::MAX / 2);
    }
}
