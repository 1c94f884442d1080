//! A busy room's gifts, sent a window at a time. At 1,000 viewers each gift frame is 1,000
//! frames out of the server, and fans who tap roses send hundreds of paid gifts a second. So
//! when gifts come faster than the room's gift window, they wait for the window's end and go
//! together, as one `gifts` frame (one `gift` frame when only one waited): a room sends at most
//! one gift frame a window, however many fans send. In it, a sender's gifts of one kind to one
//! anchor are merged into one, as the app draws them (one banner whose count rises): `count`
//! is their sum, `sends` how many paid gifts it stands for, `first_at` and `at` when the first
//! and the last of them committed.
//!
//! A gift that comes after a quiet window goes at once, alone: a single gift is never held,
//! and a held gift waits at most one window. The window grows with the audience, because what
//! a frame costs does (50 µs a viewer: 1,000 viewers 50 ms), at most `room.gift_combo_max_ms`;
//! a room of fewer than `room.gift_combo_min_viewers` (100) sees a `gift` frame per gift.

use super::batch::{Pace, When};
use super::Room;
use crate::domain::events::{GiftSent, GiftsSent, RoomEvent};
use actix::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The gift window per viewer. 1,000 viewers at 5,000 gifts/s got 5 M frames/s with a frame per
/// gift, far past what a core sends, and 1 M with a frame per sender's combo, past what the
/// generator's core reads (BENCHMARKS.md, "Gift combos").
const WINDOW_PER_VIEWER: Duration = Duration::from_micros(50);

/// Sender, gift, and the anchor it went to.
type Key = (i64, i64, i64);

fn key(g: &GiftSent) -> Key {
    (g.from.id, g.gift.id, g.to)
}

/// What to do with a gift that was just paid for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Add {
    /// Publish it now.
    Now(GiftSent),
    /// It waits for the window's end; when `Some`, it opened the wait: end it after this long.
    Held(Option<Duration>),
}

pub(super) struct Combos {
    max: Duration,
    min_viewers: usize,
    /// What waits, in the order it came, a sender's gifts of one kind to one anchor merged.
    held: Vec<GiftSent>,
    /// Where each key's combo is in `held`.
    index: HashMap<Key, usize>,
    /// When gift frames go: the room's frame batch's rule, with this window.
    pace: Pace,
}

impl Combos {
    pub(super) fn new(max: Duration, min_viewers: usize) -> Self {
        Self { max, min_viewers, held: Vec::new(), index: HashMap::new(), pace: Pace::default() }
    }

    fn window(&self, viewers: usize) -> Duration {
        if viewers < self.min_viewers {
            return Duration::ZERO;
        }
        super::batch::per_viewer(WINDOW_PER_VIEWER, viewers, self.max)
    }

    /// A gift was paid for, in a room of `viewers` viewers.
    pub(super) fn add(&mut self, gift: GiftSent, viewers: usize, now: Instant) -> Add {
        let window = self.window(viewers);
        if window.is_zero() {
            return Add::Now(gift);
        }
        match self.pace.ready(window, now) {
            When::Now => {
                self.pace.went(true, now);
                Add::Now(gift)
            }
            When::Later(after) => {
                self.hold(gift);
                Add::Held(Some(after))
            }
            When::Scheduled => {
                self.hold(gift);
                Add::Held(None)
            }
        }
    }

    fn hold(&mut self, gift: GiftSent) {
        match self.index.get(&key(&gift)) {
            Some(&i) => merge(&mut self.held[i], gift),
            None => {
                self.index.insert(key(&gift), self.held.len());
                self.held.push(gift);
            }
        }
    }

    /// The window ended: what waited, to go now (the next window starts from `now`).
    pub(super) fn end_window(&mut self, now: Instant) -> Vec<GiftSent> {
        self.pace.went(!self.held.is_empty(), now);
        self.take_held()
    }

    /// Everything that waits, now, in the order it came (before the room closes or a PK ends);
    /// a scheduled end of the window still comes, and takes what came since.
    pub(super) fn take_held(&mut self) -> Vec<GiftSent> {
        self.index.clear();
        std::mem::take(&mut self.held)
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

    /// Publishes a paid gift now, or holds it for the room's gift window (see the module).
    pub(super) fn gift_out(&mut self, gift: GiftSent, ctx: &mut Context<Self>) {
        match self.combos.add(gift, self.audience(), Instant::now()) {
            Add::Now(gift) => {
                self.publish(RoomEvent::Gift(gift));
            }
            Add::Held(Some(after)) => {
                ctx.run_later(after, |act, _| {
                    let held = act.combos.end_window(Instant::now());
                    act.publish_gifts(held);
                });
            }
            Add::Held(None) => {}
        }
    }

    /// Publishes the gifts that wait: what must come after every gift paid so far (a PK's
    /// end, the room's close) calls it first.
    pub(super) fn publish_held_gifts(&mut self) {
        let held = self.combos.take_held();
        self.publish_gifts(held);
    }

    /// One `gift` frame for one gift, one `gifts` frame for several.
    fn publish_gifts(&mut self, mut gifts: Vec<GiftSent>) {
        let event = match gifts.len() {
            0 => return,
            1 => RoomEvent::Gift(gifts.swap_remove(0)),
            _ => RoomEvent::Gifts(GiftsSent { gifts }),
        };
        self.publish(event);
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_gift_after_a_quiet_window_goes_at_once_and_what_follows_within_it_waits_merged() {
        let t0 = Instant::now();
        let mut c = Combos::new(ms(50), 0);
        // 1,000 viewers: a 50 ms window. The first gift goes at once.
        assert_eq!(c.add(gift(1, 1, "a1"), 1000, t0), Add::Now(gift(1, 1, "a1")));
        // 10 ms later, within the window: it waits, and the window's end is due in 40 ms.
        assert_eq!(c.add(gift(2, 1, "b1"), 1000, t0 + ms(10)), Add::Held(Some(ms(40))));
        // What follows waits for the same end, a sender's gifts of one kind merged.
        assert_eq!(c.add(gift(1, 1, "a2"), 1000, t0 + ms(11)), Add::Held(None));
        assert_eq!(c.add(gift(1, 1, "a3"), 1000, t0 + ms(12)), Add::Held(None));
        assert_eq!(c.add(gift(1, 2, "c1"), 1000, t0 + ms(13)), Add::Held(None), "another kind");
        assert_eq!(c.add(gift(2, 1, "b2"), 1000, t0 + ms(14)), Add::Held(None));
        let out = c.end_window(t0 + ms(50));
        let got: Vec<_> = out.iter().map(|g| (g.from.id, g.gift.id, g.count, g.sends)).collect();
        assert_eq!(got, vec![(2, 1, 2, 2), (1, 1, 2, 2), (1, 2, 1, 1)], "in the order they came");
        assert_eq!((out[1].at.as_str(), out[1].first_at.as_deref()), ("a3", Some("a2")));
        assert_eq!(out[2].first_at, None, "one paid gift is itself");
        // The window starts again from its end: a gift 20 ms later waits 30 ms.
        assert_eq!(c.add(gift(3, 1, "d1"), 1000, t0 + ms(70)), Add::Held(Some(ms(30))));
        assert_eq!(c.end_window(t0 + ms(100)).len(), 1);
        // Nothing waited in the next window: the gift after it goes at once.
        assert!(c.end_window(t0 + ms(150)).is_empty());
        assert!(matches!(c.add(gift(3, 1, "d2"), 1000, t0 + ms(160)), Add::Now(_)));
    }

    #[test]
    fn the_window_grows_with_the_audience_and_none_means_every_gift_at_once() {
        let t0 = Instant::now();
        let mut c = Combos::new(ms(50), 0);
        assert!(matches!(c.add(gift(1, 1, "a"), 20, t0), Add::Now(_)));
        assert_eq!(c.add(gift(1, 1, "a"), 20, t0), Add::Held(Some(ms(1))), "20 viewers: 1 ms");
        let mut c = Combos::new(ms(50), 0);
        c.add(gift(1, 1, "a"), 100_000, t0);
        assert_eq!(c.add(gift(1, 1, "a"), 100_000, t0), Add::Held(Some(ms(50))), "at most the max");
        // `room.gift_combo_max_ms = 0`: a frame per gift.
        let mut c = Combos::new(Duration::ZERO, 0);
        for _ in 0..3 {
            assert_eq!(c.add(gift(1, 1, "a"), 1000, t0), Add::Now(gift(1, 1, "a")));
        }
        // Fewer viewers than `room.gift_combo_min_viewers` (and none): a frame per gift.
        for viewers in [0, 99] {
            let mut c = Combos::new(ms(50), 100);
            for _ in 0..3 {
                assert_eq!(c.add(gift(1, 1, "a"), viewers, t0), Add::Now(gift(1, 1, "a")));
            }
        }
        let mut c = Combos::new(ms(50), 100);
        c.add(gift(1, 1, "a"), 100, t0);
        assert_eq!(c.add(gift(1, 1, "a"), 100, t0), Add::Held(Some(ms(5))));
    }

    #[test]
    fn what_waits_can_be_taken_early_and_the_scheduled_end_takes_what_came_since() {
        let t0 = Instant::now();
        let mut c = Combos::new(ms(50), 0);
        c.add(gift(9, 1, "z"), 1000, t0);
        for g in [gift(2, 1, "b1"), gift(1, 1, "a1"), gift(1, 1, "a2"), gift(2, 1, "b2"), gift(1, 1, "a3")] {
            c.add(g, 1000, t0 + ms(1));
        }
        let held = c.take_held();
        assert_eq!(held.iter().map(|g| (g.from.id, g.count)).collect::<Vec<_>>(), vec![(2, 2), (1, 3)]);
        assert!(c.take_held().is_empty());
        // The end is still scheduled: what comes now waits for it.
        assert_eq!(c.add(gift(1, 1, "a4"), 1000, t0 + ms(2)), Add::Held(None));
        let out = c.end_window(t0 + ms(50));
        assert_eq!((out.len(), out[0].count, out[0].first_at.as_deref()), (1, 1, None), "a new combo");
    }
}
