//! Gifts merged into combos. A viewer who taps a rose twenty times a second sends twenty paid
//! gifts; the app draws them as one banner whose count rises (`×20`), and at 1,000 viewers each
//! of them is also 1,000 frames out of the server. So a room merges the gifts of one sender, of
//! one kind, to one anchor that come within its combo window into one `gift` frame: `count` is
//! their sum, `sends` how many paid gifts it stands for, `first_at` and `at` when the first and
//! the last of them committed.
//!
//! The first gift of a sender (of a kind, to an anchor) goes at once and opens that sender's
//! window: a single gift is never held. What follows within the window waits and goes as one
//! frame when it ends, and a combo that goes on gets a frame a window. Each sender's window is
//! its own, so the frames of many senders stay spread out instead of going in bursts. The
//! window grows with the audience, because what a frame costs does (50 µs a viewer: 1,000
//! viewers 50 ms), at most `room.gift_combo_max_ms`; a room of fewer than
//! `room.gift_combo_min_viewers` (100) sees a frame per gift.

use super::Room;
use crate::domain::events::{GiftSent, RoomEvent};
use actix::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

/// The combo window per viewer. 1,000 viewers at 5,000 gifts/s (50 senders) got 5 M frames/s
/// with a frame per gift, far past what a core sends (BENCHMARKS.md, "Gift combos").
const WINDOW_PER_VIEWER: Duration = Duration::from_micros(50);

/// Sender, gift, and the anchor it went to.
type Key = (i64, i64, i64);

fn key(g: &GiftSent) -> Key {
    (g.from.id, g.gift.id, g.to)
}

/// What to do with a gift that was just paid for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Add {
    /// Publish it now; when `Some`, its sender's window opened with it: end it after this long.
    Now(GiftSent, Option<Duration>),
    /// It waits for its sender's window to end, merged into the combo.
    Held,
}

pub(super) struct Combos {
    max: Duration,
    min_viewers: usize,
    /// The open windows, each with what waits in it (numbered, to take it all in order).
    open: HashMap<Key, Option<(u64, GiftSent)>>,
    /// Numbers held gifts in the order they came.
    next: u64,
}

impl Combos {
    pub(super) fn new(max: Duration, min_viewers: usize) -> Self {
        Self { max, min_viewers, open: HashMap::new(), next: 0 }
    }

    fn window(&self, viewers: usize) -> Duration {
        if viewers < self.min_viewers {
            return Duration::ZERO;
        }
        super::batch::per_viewer(WINDOW_PER_VIEWER, viewers, self.max)
    }

    /// A gift was paid for, in a room of `viewers` viewers.
    pub(super) fn add(&mut self, gift: GiftSent, viewers: usize) -> Add {
        let k = key(&gift);
        if let Some(held) = self.open.get_mut(&k) {
            match held {
                Some((_, combo)) => merge(combo, gift),
                None => {
                    *held = Some((self.next, gift));
                    self.next += 1;
                }
            }
            return Add::Held;
        }
        let window = self.window(viewers);
        if window.is_zero() {
            return Add::Now(gift, None);
        }
        self.open.insert(k, None);
        Add::Now(gift, Some(window))
    }

    /// The window `k` ended: its combo if one waited, and then the next window's length (a
    /// combo that goes on gets a frame a window); `None` when nothing waited, and the sender's
    /// next gift goes at once.
    pub(super) fn end_window(&mut self, k: Key, viewers: usize) -> Option<(GiftSent, Duration)> {
        let window = self.window(viewers).max(Duration::from_micros(1));
        match self.open.get_mut(&k)?.take() {
            Some((_, gift)) => Some((gift, window)),
            None => {
                self.open.remove(&k);
                None
            }
        }
    }

    /// Everything that waits, now, in the order it came (before the room closes or a PK ends);
    /// the windows stay open and end as scheduled.
    pub(super) fn take_held(&mut self) -> Vec<GiftSent> {
        let mut held: Vec<(u64, GiftSent)> = self.open.values_mut().filter_map(Option::take).collect();
        held.sort_unstable_by_key(|(n, _)| *n);
        held.into_iter().map(|(_, g)| g).collect()
    }
}

fn merge(into: &mut GiftSent, g: GiftSent) {
    into.first_at.get_or_insert_with(|| into.at.clone());
    into.count += g.count;
    into.sends += g.sends;
    into.at = g.at;
    into.from.nickname = g.from.nickname;
}

impl Room {
    /// Who a frame goes to: the sockets here, and on a home the viewers on the other nodes.
    fn audience(&self) -> usize {
        self.sessions.len() + self.remote_online.values().sum::<usize>()
    }

    /// Publishes a paid gift now, or merges it into its sender's combo (see the module).
    pub(super) fn gift_out(&mut self, gift: GiftSent, ctx: &mut Context<Self>) {
        let viewers = self.audience();
        let k = key(&gift);
        match self.combos.add(gift, viewers) {
            Add::Held => {}
            Add::Now(gift, window) => {
                self.publish(RoomEvent::Gift(gift));
                if let Some(after) = window {
                    ctx.run_later(after, move |act, ctx| act.end_combo_window(k, ctx));
                }
            }
        }
    }

    fn end_combo_window(&mut self, k: Key, ctx: &mut Context<Self>) {
        let viewers = self.audience();
        if let Some((gift, next)) = self.combos.end_window(k, viewers) {
            self.publish(RoomEvent::Gift(gift));
            ctx.run_later(next, move |act, ctx| act.end_combo_window(k, ctx));
        }
    }

    /// Publishes the combos that wait: what must come after every gift paid so far (a PK's
    /// end, the room's close) calls it first.
    pub(super) fn publish_held_gifts(&mut self) {
        for gift in self.combos.take_held() {
            self.publish(RoomEvent::Gift(gift));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::events::GiftItem;
    use crate::domain::user::UserRef;

    fn gift(from: i64, id: i64, at: &str) -> GiftSent {
        GiftSent {
            at: at.into(),
            count: 1,
            first_at: None,
            from: UserRef { id: from, nickname: format!("u{from}") },
            gift: GiftItem { effect: "e".into(), id, name: "rose".into(), price: 1 },
            sends: 1,
            to: 9,
        }
    }

    #[test]
    fn a_senders_first_gift_goes_at_once_and_what_follows_in_its_window_is_one_frame() {
        let mut c = Combos::new(Duration::from_millis(50), 0);
        // 1,000 viewers: a 50 ms window, opened by the sender's first gift.
        assert_eq!(c.add(gift(1, 1, "a1"), 1000), Add::Now(gift(1, 1, "a1"), Some(Duration::from_millis(50))));
        // Another sender's first gift opens a window of its own.
        assert_eq!(c.add(gift(2, 1, "b1"), 1000), Add::Now(gift(2, 1, "b1"), Some(Duration::from_millis(50))));
        // What follows from the same sender, gift and anchor waits and merges.
        assert_eq!(c.add(gift(1, 1, "a2"), 1000), Add::Held);
        assert_eq!(c.add(gift(1, 1, "a3"), 1000), Add::Held);
        // Another kind of gift is another combo.
        assert!(matches!(c.add(gift(1, 2, "c1"), 1000), Add::Now(_, Some(_))));
        assert_eq!(c.add(gift(2, 1, "b2"), 1000), Add::Held);
        let (a, next) = c.end_window((1, 1, 9), 1000).unwrap();
        assert_eq!(next, Duration::from_millis(50), "the combo goes on: another window");
        assert_eq!((a.from.id, a.count, a.sends, a.at.as_str(), a.first_at.as_deref()), (1, 2, 2, "a3", Some("a2")));
        let (b, _) = c.end_window((2, 1, 9), 1000).unwrap();
        assert_eq!((b.from.id, b.count, b.sends, b.first_at.as_deref()), (2, 1, 1, None), "one held gift is itself");
        // Nothing waited in c's window: it closes, and the next gift goes at once.
        assert!(c.end_window((1, 2, 9), 1000).is_none());
        assert!(matches!(c.add(gift(1, 2, "c2"), 1000), Add::Now(_, Some(_))));
        // The sender who had a frame at the window's end waits in the next one.
        assert_eq!(c.add(gift(1, 1, "a4"), 1000), Add::Held);
        assert!(c.end_window((1, 1, 9), 1000).is_some());
        assert!(c.end_window((1, 1, 9), 1000).is_none(), "nothing waited: closed");
        assert!(matches!(c.add(gift(1, 1, "a5"), 1000), Add::Now(_, Some(_))));
    }

    #[test]
    fn the_window_grows_with_the_audience_and_none_means_every_gift_at_once() {
        let mut c = Combos::new(Duration::from_millis(50), 0);
        assert_eq!(c.add(gift(1, 1, "a"), 20), Add::Now(gift(1, 1, "a"), Some(Duration::from_millis(1))));
        let mut c = Combos::new(Duration::from_millis(50), 0);
        assert!(matches!(c.add(gift(1, 1, "a"), 100_000), Add::Now(_, Some(w)) if w == Duration::from_millis(50)));
        // `room.gift_combo_max_ms = 0`: a frame per gift.
        let mut c = Combos::new(Duration::ZERO, 0);
        for _ in 0..3 {
            assert_eq!(c.add(gift(1, 1, "a"), 1000), Add::Now(gift(1, 1, "a"), None));
        }
        // Fewer viewers than `room.gift_combo_min_viewers` (and none): a frame per gift.
        for viewers in [0, 99] {
            let mut c = Combos::new(Duration::from_millis(50), 100);
            for _ in 0..3 {
                assert_eq!(c.add(gift(1, 1, "a"), viewers), Add::Now(gift(1, 1, "a"), None));
            }
        }
        let mut c = Combos::new(Duration::from_millis(50), 100);
        assert!(matches!(c.add(gift(1, 1, "a"), 100), Add::Now(_, Some(w)) if w == Duration::from_millis(5)));
    }

    #[test]
    fn what_waits_can_be_taken_early_in_the_order_it_came() {
        let mut c = Combos::new(Duration::from_millis(50), 0);
        for g in [gift(2, 1, "b1"), gift(1, 1, "a1"), gift(1, 1, "a2"), gift(2, 1, "b2"), gift(1, 1, "a3")] {
            c.add(g, 1000);
        }
        let held = c.take_held();
        assert_eq!(held.iter().map(|g| (g.from.id, g.count)).collect::<Vec<_>>(), vec![(1, 2), (2, 1)]);
        assert!(c.take_held().is_empty());
        // The windows are still open: the senders had a frame in them.
        assert_eq!(c.add(gift(1, 1, "a4"), 1000), Add::Held);
    }
}
