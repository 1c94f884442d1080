//! Fixed-window rate limits: how many actions a key may take in a window.

use std::time::Duration;

/// At most `max` actions per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window: Duration,
}

impl Limit {
    pub const fn per_second(max: u64) -> Self {
        Self { max, window: Duration::from_secs(1) }
    }
    pub const fn new(max: u64, window_s: u64) -> Self {
        Self { max, window: Duration::from_secs(window_s) }
    }
    /// `count` is the number of actions in the window including this one.
    pub fn allows(&self, count: u64) -> bool {
        count <= self.max
    }
}

/// An in-process sliding counter for one key, used by actors that already serialise access
/// (a room counting chats per user) so no store round trip is needed.
#[derive(Debug, Clone, Default)]
pub struct WindowCounter {
    window_start_ms: u64,
    count: u64,
}

impl WindowCounter {
    /// Counts one action at `now_ms`; true when it is within `limit`.
    pub fn hit(&mut self, now_ms: u64, limit: Limit) -> bool {
        let w = limit.window.as_millis() as u64;
        if now_ms.saturating_sub(self.window_start_ms) >= w {
            self.window_start_ms = now_ms;
            self.count = 0;
        }
        self.count += 1;
        limit.allows(self.count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[test]
    fn five_a_second_then_refused_until_the_window_passes() {
        let mut c = WindowCounter::default();
        let l = Limit::per_second(5);
        for i in 0..5 {
            assert!(c.hit(1000 + i, l));
        }
        assert!(!c.hit(1500, l));
        assert!(c.hit(2001, l));
    }
}
