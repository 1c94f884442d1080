//! Latency histogram: log-linear buckets of microseconds (~3% resolution), mergeable as JSON so
//! that each worker can send its own to the coordinator.

use serde_json::{json, Value};

const SUB: u32 = 32;

#[derive(Clone)]
pub(crate) struct Hist {
    b: Vec<u64>,
    pub(crate) max: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    pub(crate) fn new() -> Self {
        Self { b: vec![0; (64 + 60 * SUB) as usize], max: 0 }
    }
    fn index(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= 6
        let sub = ((v >> (e - 5)) & (SUB as u64 - 1)) as u32;
        (64 + (e - 6) * SUB + sub) as usize
    }
    fn value(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let i = i as u32 - 64;
        let e = i / SUB + 6;
        let sub = (i % SUB) as u64;
        ((SUB as u64 + sub) << (e - 5)) + (1 << (e - 5)) / 2
    }
    pub(crate) fn add(&mut self, v: u64) {
        self.b[Self::index(v)] += 1;
        self.max = self.max.max(v);
    }
    pub(crate) fn merge(&mut self, o: &Hist) {
        for (a, b) in self.b.iter_mut().zip(&o.b) {
            *a += b;
        }
        self.max = self.max.max(o.max);
    }
    pub(crate) fn count(&self) -> u64 {
        self.b.iter().sum()
    }

    /// Count and percentiles in milliseconds, as the reports print them.
    pub(crate) fn to_ms_json(&self) -> Value {
        json!({
            "count": self.count(),
            "p50": self.pct(0.50) as f64 / 1000.0,
            "p90": self.pct(0.90) as f64 / 1000.0,
            "p99": self.pct(0.99) as f64 / 1000.0,
            "max": self.max as f64 / 1000.0,
        })
    }
    pub(crate) fn pct(&self, p: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let want = ((n as f64) * p).ceil().max(1.0) as u64;
        if want >= n {
            return self.max;
        }
        let mut c = 0;
        for (i, k) in self.b.iter().enumerate() {
            c += k;
            if c >= want {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
    pub(crate) fn to_json(&self) -> Value {
        let sparse: Vec<[u64; 2]> =
            self.b.iter().enumerate().filter(|(_, k)| **k > 0).map(|(i, k)| [i as u64, *k]).collect();
        json!({"b": sparse, "max": self.max})
    }
    pub(crate) fn from_json(v: &Value) -> Self {
        let mut h = Hist::new();
        for p in v["b"].as_array().into_iter().flatten() {
            let i = p[0].as_u64().unwrap_or(0) as usize;
            if i < h.b.len() {
                h.b[i] += p[1].as_u64().unwrap_or(0);
            }
        }
        h.max = v["max"].as_u64().unwrap_or(0);
        h
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_close() {
        let mut h = Hist::new();
        for v in 1..=100_000u64 {
            h.add(v);
        }
        for (p, want) in [(0.5, 50_000.0), (0.99, 99_000.0)] {
            let got = h.pct(p) as f64;
            assert!((got - want).abs() / want < 0.04, "p{p}: {got}");
        }
        assert_eq!(h.pct(1.0), 100_000);
        let back = Hist::from_json(&h.to_json());
        assert_eq!(back.count(), 100_000);
    }
}
