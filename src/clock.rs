//! Wall-clock time that tests can control.
//!
//! Time windows compare event timestamps (wall-clock nanoseconds since the Unix epoch) with "now". A
//! plain `SystemTime::now()` cannot be paused, so the clock reads the wall time once at start and then
//! advances with `tokio::time::Instant`, which `tokio::time::pause` and `advance` control in tests.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_wall_ns: i64,
    base: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            base_wall_ns: wall.as_nanos() as i64,
            base: tokio::time::Instant::now(),
        }
    }

    /// A clock whose "now" starts at the given Unix time in nanoseconds (for tests).
    pub fn starting_at(wall_ns: i64) -> Self {
        Clock {
            base_wall_ns: wall_ns,
            base: tokio::time::Instant::now(),
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> i64 {
        self.base_wall_ns + self.base.elapsed().as_nanos() as i64
    }

    /// Seconds since the Unix epoch, for exported timestamps.
    pub fn now_secs(&self) -> f64 {
        self.now_ns() as f64 / 1e9
    }

    /// Monotonic nanoseconds since the clock was created (for TTLs, which must not jump with the wall clock).
    pub fn monotonic_ns(&self) -> i64 {
        self.base.elapsed().as_nanos() as i64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
