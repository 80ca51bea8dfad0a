//! Fixed rings of recent counts: ASR/ACD per minute, new calls per second.
//! Bucket `i` holds the period `p` with `p % len == i`, tagged with `p` so
//! a stale bucket (from a lap ago) is recognised and reset, never summed.

use super::Outcomes;

/// Minute buckets (one more than the window, so the current minute never
/// overwrites the oldest one still summed).
const MINUTES: usize = 16;
/// Second buckets.
const SECONDS: usize = 8;
/// Complete seconds a rate is averaged over.
const RATE_SECONDS: u64 = 5;

/// Call outcomes per minute.
#[derive(Clone, Debug, Default)]
pub struct Window {
    buckets: [(u64, Outcomes); MINUTES],
}

impl Window {
    /// The bucket of `minute`, reset when it held an older minute.
    pub fn at(&mut self, minute: u64) -> &mut Outcomes {
        let b = &mut self.buckets[minute as usize % MINUTES];
        if b.0 != minute {
            *b = (minute, Outcomes::default());
        }
        &mut b.1
    }

    /// Outcomes of the last `minutes` minutes up to and including `now_minute`.
    pub fn sum(&self, now_minute: u64, minutes: u64) -> Outcomes {
        let first = now_minute.saturating_sub(minutes.min(MINUTES as u64 - 1) - 1);
        let mut total = Outcomes::default();
        for (minute, o) in &self.buckets {
            if (first..=now_minute).contains(minute) {
                total.add(o);
            }
        }
        total
    }
}

/// Events per second over the last few complete seconds.
#[derive(Clone, Debug, Default)]
pub struct PerSecond {
    buckets: [(u64, u64); SECONDS],
}

impl PerSecond {
    /// One event in `second`.
    pub fn record(&mut self, second: u64) {
        let b = &mut self.buckets[second as usize % SECONDS];
        if b.0 != second {
            *b = (second, 0);
        }
        b.1 += 1;
    }

    /// Average per second over the [`RATE_SECONDS`] complete seconds before `now_second`.
    pub fn rate(&self, now_second: u64) -> f64 {
        let first = now_second.saturating_sub(RATE_SECONDS);
        let n: u64 = self.buckets.iter().filter(|(s, _)| (first..now_second).contains(s)).map(|b| b.1).sum();
        n as f64 / RATE_SECONDS as f64
    }
}
