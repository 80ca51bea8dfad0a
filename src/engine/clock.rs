//! The only clock in tandem: the protocol core is handed `now`.
#![allow(clippy::disallowed_methods)]

use crate::call::Now;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic milliseconds since the engine started, plus wall time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts the clock.
    pub fn new() -> Self {
        Clock { start: Instant::now() }
    }

    /// The current time.
    pub fn now(&self) -> Now {
        Now { ms: self.start.elapsed().as_millis() as u64, unix_ms: unix_ms() }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Wall-clock Unix milliseconds.
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
