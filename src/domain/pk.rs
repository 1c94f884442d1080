//! PK battles: their status, the score rule (the host's share of the bar, moved by gifts), and
//! what a PK shows.

use super::user::UserRef;

use super::status::status_enum;

status_enum! {
    /// A PK's status; the contract's `pk.status`. A PK room has one waiting from its
    /// creation; a challenger starts it; the timer, a leave or a close ends it, once.
    pub enum PkStatus("pk") {
        Waiting = "waiting",
        Running = "running",
        Ended = "ended",
    }
}

/// Which side of a PK a gift goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Host,
    Challenger,
}

pub const START_SCORE: i64 = 50;

/// Coins that move the bar one point unless `pk.coins_per_point` says otherwise.
pub const COINS_PER_POINT: i64 = 10;

/// The new score after a gift worth `coins` to `side`: `coins / coins_per_point` rounded down,
/// added for the host and subtracted for the challenger, clamped to 0..=100.
pub fn apply_gift(score: i64, side: Side, coins: i64, coins_per_point: i64) -> i64 {
    let delta = coins / coins_per_point.max(1);
    let next = match side {
        Side::Host => score.saturating_add(delta),
        Side::Challenger => score.saturating_sub(delta),
    };
    next.clamp(0, 100)
}

/// Outcome of a PK at a given score: `Some(side)` wins, `None` a draw.
pub fn winner_at(score: i64) -> Option<Side> {
    match score.cmp(&START_SCORE) {
        std::cmp::Ordering::Greater => Some(Side::Host),
        std::cmp::Ordering::Less => Some(Side::Challenger),
        std::cmp::Ordering::Equal => None,
    }
}

/// A score of 100 or 0 ends the PK at once.
pub fn is_knockout(score: i64) -> bool {
    score <= 0 || score >= 100
}

/// The contract's `pk` object, as rooms, frames and the PK routes show it.
///
/// Fields are declared in alphabetical order: the JSON they give is byte for byte what the
/// untyped `json!` object (a sorted map) gave before. Absent values are `null`, never left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PkView {
    pub challenger: Option<UserRef>,
    /// Coins of the gifts counted for the challenger.
    pub challenger_coins: i64,
    /// RFC 3339; `null` while the PK waits for a challenger.
    pub ends_at: Option<String>,
    pub host: UserRef,
    /// Coins of the gifts counted for the host.
    pub host_coins: i64,
    pub id: i64,
    pub score: i64,
    pub status: String,
    pub winner: Option<i64>,
}

/// A running PK's tally as its row holds it: written in the same transaction as each counted
/// gift's debit, under the row's lock, so that the gifts of one PK are counted one at a time in
/// commit order whatever node took them. `gifts` only grows: of two tallies, the one with more
/// gifts is the later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PkTally {
    pub pk_id: i64,
    /// The host's room, where the PK's actor runs.
    pub room_id: i64,
    pub gifts: i64,
    pub score: i64,
    pub host_coins: i64,
    pub challenger_coins: i64,
    /// The PK's scale (coins per point), fixed when it started.
    pub coins_per_point: i64,
}

impl PkTally {
    /// Counts a gift of `coins` to `side`; false, changing nothing, once the score is a
    /// knockout (the PK is decided).
    pub fn count(&mut self, side: Side, coins: i64) -> bool {
        if is_knockout(self.score) {
            return false;
        }
        self.score = apply_gift(self.score, side, coins, self.coins_per_point);
        match side {
            Side::Host => self.host_coins = self.host_coins.saturating_add(coins),
            Side::Challenger => self.challenger_coins = self.challenger_coins.saturating_add(coins),
        }
        self.gifts += 1;
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(apply_gift(50, Side::Host, 10, 10), 51);
        assert_eq!(apply_gift(50, Side::Host, 9, 10), 50);
        assert_eq!(apply_gift(50, Side::Challenger, 50, 10), 45);
        assert_eq!(apply_gift(95, Side::Host, 99_000, 10), 100);
        assert_eq!(apply_gift(3, Side::Challenger, 100, 10), 0);
        // Another scale: 100 coins a point.
        assert_eq!(apply_gift(50, Side::Host, 500, 100), 55);
        assert_eq!(apply_gift(50, Side::Host, 99, 100), 50);
        assert_eq!(winner_at(50), None);
        assert_eq!(winner_at(51), Some(Side::Host));
        assert!(is_knockout(100) && is_knockout(0) && !is_knockout(1));
    }

    #[test]
    fn a_tally_counts_until_a_knockout_and_not_after() {
        let mut t = PkTally {
            pk_id: 1,
            room_id: 2,
            gifts: 0,
            score: START_SCORE,
            host_coins: 0,
            challenger_coins: 0,
            coins_per_point: COINS_PER_POINT,
        };
        assert!(t.count(Side::Host, 300));
        assert_eq!((t.score, t.host_coins, t.gifts), (80, 300, 1));
        assert!(t.count(Side::Challenger, 5));
        assert_eq!((t.score, t.challenger_coins, t.gifts), (80, 5, 2));
        assert!(t.count(Side::Host, 1000));
        assert_eq!(t.score, 100);
        assert!(!t.count(Side::Challenger, 1000));
        assert_eq!((t.score, t.challenger_coins, t.gifts), (100, 5, 3));
    }

    proptest! {
        #[test]
        fn score_stays_in_range(start in 0i64..=100, coins in 1i64..=99_000_000, per_point in 0i64..=1000, host in any::<bool>()) {
            let side = if host { Side::Host } else { Side::Challenger };
            let s = apply_gift(start, side, coins, per_point);
            prop_assert!((0..=100).contains(&s));
            if host { prop_assert!(s >= start) } else { prop_assert!(s <= start) }
        }
    }
}
