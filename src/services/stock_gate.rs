//! The reservation gate of each product on this node. Reservations of one product would queue
//! on its row lock in the database anyway, each holding a pooled connection while it waits (on
//! SQLite, sleeping in the busy handler); here they queue in memory instead and reach the
//! database one at a time.
//!
//! A turn at the gate also passes on what the last one learned: the product's stock as read or
//! as left by a committed reservation, stamped with when it was learned. A request that was
//! already waiting when a level was learned may be answered from it: that level was the
//! database's at a moment during the request, as exact as a read of its own. A request that
//! arrived later learns nothing from it and reads the stock again, so stock an expiry returned
//! (on any node) is buyable by the next buyer; `sold_out` is only ever answered from a reading
//! taken while the buyer waited.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::OwnedMutexGuard;

/// A product's stock as learned at `at` (on the gates' clock).
#[derive(Debug, Clone, Copy)]
struct Learned {
    left: i64,
    at: u64,
}

type Gate = tokio::sync::Mutex<Option<Learned>>;

/// Every product's gate on this node (kept while someone is at it).
#[derive(Default)]
pub struct StockGates {
    /// Orders "a request came to the gate" against "a level was learned".
    clock: AtomicU64,
    gates: Mutex<HashMap<i64, Weak<Gate>>>,
}

/// The turn of one request at the gates of its products; dropping it lets the next one in.
pub struct Turn<'a> {
    gates: &'a StockGates,
    /// When the request came to the gates: a level learned after this may answer it.
    arrived: u64,
    held: Vec<(i64, OwnedMutexGuard<Option<Learned>>)>,
}

impl StockGates {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn gate(&self, product_id: i64) -> Arc<Gate> {
        let mut gates = self.gates.lock();
        if let Some(g) = gates.get(&product_id).and_then(Weak::upgrade) {
            return g;
        }
        if gates.len() >= 1024 {
            gates.retain(|_, g| g.strong_count() > 0); // products nobody is buying now
        }
        let g = Arc::new(Gate::new(None));
        gates.insert(product_id, Arc::downgrade(&g));
        g
    }

    /// Waits for a turn at the gates of `product_ids` (taken in id order, so two carts never
    /// wait for each other).
    pub async fn enter(&self, product_ids: &[i64]) -> Turn<'_> {
        let arrived = self.tick();
        let mut ids = product_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            held.push((id, self.gate(id).lock_owned().await));
        }
        Turn { gates: self, arrived, held }
    }
}

impl Turn<'_> {
    fn slot(&mut self, product_id: i64) -> Option<&mut Option<Learned>> {
        self.held.iter_mut().find(|(id, _)| *id == product_id).map(|(_, g)| &mut **g)
    }

    /// The product's stock if it was learned while this request waited; `None`: read it.
    pub fn known_left(&mut self, product_id: i64) -> Option<i64> {
        let arrived = self.arrived;
        self.slot(product_id).and_then(|l| *l).filter(|l| l.at > arrived).map(|l| l.left)
    }

    /// Stamps a reading that is about to be taken (a read, or a reservation's transaction):
    /// pass the stamp to `learn` with what it found.
    pub fn stamp(&self) -> u64 {
        self.gates.tick()
    }

    /// The product had `left` at a moment after `stamp` was taken.
    pub fn learn(&mut self, product_id: i64, left: i64, stamp: u64) {
        if let Some(slot) = self.slot(product_id) {
            *slot = Some(Learned { left, at: stamp });
        }
    }

    /// What was learned of these products is not to be trusted (a reservation failed).
    pub fn forget(&mut self) {
        for (_, g) in &mut self.held {
            **g = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_level_learned_while_a_request_waited_answers_it() {
        let gates = StockGates::default();
        let mut first = gates.enter(&[7]).await;
        assert_eq!(first.known_left(7), None, "nothing learned yet: read");
        let waiting = gates.enter(&[7]);
        tokio::pin!(waiting);
        // The second request comes to the gate before the first learns anything.
        assert!(futures_util::FutureExt::now_or_never(waiting.as_mut()).is_none());
        let stamp = first.stamp();
        first.learn(7, 0, stamp);
        drop(first);
        let mut second = waiting.await;
        assert_eq!(second.known_left(7), Some(0));
    }

    #[tokio::test]
    async fn a_level_learned_before_a_request_came_does_not_answer_it() {
        let gates = StockGates::default();
        let mut first = gates.enter(&[7]).await;
        let stamp = first.stamp();
        first.learn(7, 0, stamp);
        drop(first);
        // Stock may have come back since (an expiry, another node): this one reads again.
        let mut later = gates.enter(&[7]).await;
        assert_eq!(later.known_left(7), None);
    }

    #[tokio::test]
    async fn a_failed_reservation_leaves_nothing_learned() {
        let gates = StockGates::default();
        let waiting_since = gates.tick();
        let mut first = gates.enter(&[7, 8]).await;
        let stamp = first.stamp();
        first.learn(7, 3, stamp);
        first.forget();
        drop(first);
        assert!(waiting_since < stamp);
        let mut next = Turn { arrived: waiting_since, ..gates.enter(&[7]).await };
        assert_eq!(next.known_left(7), None);
    }
}
