//! Red-packet rain: an anchor's application (reviewed by an admin), the rain's stages, what a
//! rain shows, and the split of its coins into packets (the double-mean method, drawn once when
//! it is prepared).

use super::review::Reviewed;
use super::status::status_enum;
use rand::Rng;

status_enum! {
    /// A red-packet application; the contract's `application.status`. An approved one pays for
    /// one rain, which uses it.
    pub enum ApplicationStatus("application") {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Used = "used",
    }
}

impl Reviewed for ApplicationStatus {
    const PENDING: Self = Self::Pending;
    const APPROVED: Self = Self::Approved;
    const REJECTED: Self = Self::Rejected;
}

status_enum! {
    /// A rain's stage: preparing (the anchor's wallet is being debited) → prepared (paid) →
    /// running → ended; or preparing → failed (a prepare that never paid: nothing to refund,
    /// and the application stays usable). The contract shows only prepared and running.
    pub enum RainStatus("rain") {
        Preparing = "preparing",
        Prepared = "prepared",
        Running = "running",
        Ended = "ended",
        Failed = "failed",
    }
}

impl RainStatus {
    /// The stages that hold the room's one rain (a room has at most one of these).
    pub const ACTIVE: [RainStatus; 3] = [Self::Preparing, Self::Prepared, Self::Running];
}

/// Splits `total` coins into `packets` amounts: each ≥ 1, summing to `total` exactly, each at
/// most twice the mean of what is left when it is drawn. Requires `total >= packets >= 1`.
pub fn split<R: Rng + ?Sized>(total: i64, packets: i64, rng: &mut R) -> Vec<i64> {
    assert!(packets >= 1 && total >= packets, "split needs total >= packets >= 1");
    let mut out = Vec::with_capacity(packets as usize);
    let mut left = total;
    for remaining in (1..=packets).rev() {
        if remaining == 1 {
            out.push(left);
            break;
        }
        // Each later packet needs at least one coin, and this one at most twice the mean.
        let max_by_mean = (2 * left / remaining).max(1);
        let max_by_rest = left - (remaining - 1);
        let hi = max_by_mean.min(max_by_rest);
        let amount = rng.random_range(1..=hi);
        out.push(amount);
        left -= amount;
    }
    out
}

/// The contract's `rain` object, as rooms and the rain routes show it.
///
/// Fields are declared in alphabetical order: the JSON they give is byte for byte what the
/// untyped `json!` object (a sorted map) gave before.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RainView {
    /// RFC 3339; `null` until the rain starts.
    pub ends_at: Option<String>,
    pub id: i64,
    pub left: i64,
    pub packets: i64,
    pub room_id: i64,
    pub status: String,
    pub total_coins: i64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn one_packet_takes_all() {
        let mut r = StdRng::seed_from_u64(1);
        assert_eq!(split(7, 1, &mut r), vec![7]);
        assert_eq!(split(5, 5, &mut r), vec![1; 5]);
    }

    proptest! {
        #[test]
        fn amounts_are_positive_sum_exactly_and_respect_double_mean(
            packets in 1i64..=500, extra in 0i64..=100_000, seed in any::<u64>()
        ) {
            let total = packets + extra;
            let mut r = StdRng::seed_from_u64(seed);
            let v = split(total, packets, &mut r);
            prop_assert_eq!(v.len() as i64, packets);
            prop_assert_eq!(v.iter().sum::<i64>(), total);
            let mut left = total;
            for (i, a) in v.iter().enumerate() {
                prop_assert!(*a >= 1);
                let remaining = packets - i as i64;
                if remaining > 1 {
                    prop_assert!(*a <= (2 * left / remaining).max(1));
                }
                left -= a;
            }
        }
    }
}
