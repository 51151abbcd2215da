//! Latency histograms in microseconds and their JSON summaries.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded (larger values are clamped): 10 minutes.
const MAX_US: u64 = 600_000_000;

/// A latency histogram (µs, 3 significant digits).
#[derive(Clone)]
pub struct Lat(Histogram<u64>);

impl Default for Lat {
    fn default() -> Self {
        Self::new()
    }
}

impl Lat {
    /// An empty histogram.
    pub fn new() -> Self {
        match Histogram::new_with_bounds(1, MAX_US, 3) {
            Ok(h) => Self(h),
            // The bounds are constants within hdrhistogram's limits.
            Err(e) => unreachable!("histogram bounds: {e:?}"),
        }
    }

    /// Records one value in µs.
    #[inline]
    pub fn record(&mut self, us: u64) {
        let _ = self.0.record(us.clamp(1, MAX_US));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Lat) {
        let _ = self.0.add(&other.0);
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Percentile `q` (0..100) in ms.
    pub fn pct_ms(&self, q: f64) -> f64 {
        self.0.value_at_percentile(q) as f64 / 1000.0
    }

    /// The summary.
    pub fn summary(&self) -> LatSummary {
        if self.0.is_empty() {
            return LatSummary::default();
        }
        LatSummary {
            count: self.0.len(),
            p50_ms: self.pct_ms(50.0),
            p90_ms: self.pct_ms(90.0),
            p99_ms: self.pct_ms(99.0),
            p999_ms: self.pct_ms(99.9),
            max_ms: self.0.max() as f64 / 1000.0,
            mean_ms: self.0.mean() / 1000.0,
        }
    }
}

/// Percentiles of a latency histogram, in ms.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct LatSummary {
    /// Number of values.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut h = Lat::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() < 2.0, "{s:?}");
    }
}
