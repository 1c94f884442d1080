//! A socket's frame budget: a token bucket of `burst` frames refilled at `per_second`. Frames
//! past it are dropped (still counted, as debt); a socket whose debt passes another `burst`
//! keeps flooding, and is closed. Checked before a frame is parsed, so a flood costs little.

use std::time::Instant;

/// What to do with one client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget: handle it.
    Take,
    /// Over the budget: drop it (the client is told `rate_limited`).
    Drop,
    /// Far over the budget: close the socket (1008).
    Close,
}

#[derive(Debug, Clone)]
pub struct Budget {
    per_second: f64,
    burst: f64,
    /// Frames left; below zero is the debt of dropped frames.
    tokens: f64,
    at: Instant,
}

impl Budget {
    pub fn new(per_second: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self { per_second: f64::from(per_second.max(1)), burst, tokens: burst, at: now }
    }

    /// Counts one frame at `now`.
    pub fn spend(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now.max(self.at);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Verdict::Take
        } else if self.tokens >= -self.burst {
            Verdict::Drop
        } else {
            Verdict::Close
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate_then_drops_then_close() {
        let t0 = Instant::now();
        let mut b = Budget::new(10, 4, t0);
        for _ in 0..4 {
            assert_eq!(b.spend(t0), Verdict::Take);
        }
        for _ in 0..4 {
            assert_eq!(b.spend(t0), Verdict::Drop);
        }
        assert_eq!(b.spend(t0), Verdict::Close);
    }

    #[test]
    fn a_client_within_the_rate_is_never_refused() {
        let t0 = Instant::now();
        let mut b = Budget::new(10, 4, t0);
        for i in 0..1000u64 {
            assert_eq!(b.spend(t0 + Duration::from_millis(100 * i)), Verdict::Take, "frame {i}");
        }
    }

    #[test]
    fn debt_is_paid_back_by_time() {
        let t0 = Instant::now();
        let mut b = Budget::new(10, 4, t0);
        for _ in 0..6 {
            b.spend(t0);
        }
        // 2 frames of debt; a second refills 10, capped at the burst.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..4 {
            assert_eq!(b.spend(t1), Verdict::Take);
        }
        assert_eq!(b.spend(t1), Verdict::Drop);
    }
}
