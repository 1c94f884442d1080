//! Who entered the room since the last `entered` snapshot: the latest few by name and how many
//! in all, sent once a second at most (so a crowd arriving at once is one line, not a flood).
//! In a cluster each mirror passes its own to the home with its counts, and the home sends
//! the room's.

use crate::domain::user::UserRef;
use serde::{Deserialize, Serialize};

/// How many of the latest entrants a snapshot names.
const NAMED: usize = 3;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entered {
    /// The latest to enter, oldest first, at most `NAMED`.
    pub users: Vec<UserRef>,
    /// Everyone who entered, named or not.
    pub count: u64,
}

impl Entered {
    /// `user` entered; the same user twice in one snapshot counts once.
    pub fn add(&mut self, user: UserRef) {
        if self.users.iter().any(|u| u.id == user.id) {
            return;
        }
        self.count += 1;
        self.users.push(user);
        if self.users.len() > NAMED {
            self.users.remove(0);
        }
    }

    /// Adds another node's entrants (theirs came later than ours for naming).
    pub fn merge(&mut self, other: Entered) {
        let unnamed = other.count.saturating_sub(other.users.len() as u64);
        for u in other.users {
            self.add(u);
        }
        self.count += unnamed;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(id: i64) -> UserRef {
        UserRef { id, nickname: format!("u{id}") }
    }

    #[test]
    fn names_the_latest_three_and_counts_everyone_once() {
        let mut e = Entered::default();
        for id in 1..=5 {
            e.add(u(id));
        }
        e.add(u(5));
        assert_eq!(e.count, 5);
        assert_eq!(e.users, vec![u(3), u(4), u(5)]);
        let mut other = Entered::default();
        for id in 10..=14 {
            other.add(u(id));
        }
        e.merge(other);
        assert_eq!(e.count, 10);
        assert_eq!(e.users, vec![u(12), u(13), u(14)]);
    }
}
