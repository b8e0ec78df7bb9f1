//! The one source of "now". Only this module reads the wall clock; timers elsewhere are
//! computed from [`Clock::now`] and run on Tokio time, so tests can move time.

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock, truncated to milliseconds so that stored and returned times agree.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}

/// A clock that starts at a chosen instant and advances with Tokio time, so that
/// `tokio::time::pause` and `sleep` move it in tests.
#[derive(Debug)]
pub struct TokioClock {
    base: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        TokioClock {
            base,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.started;
        let millis = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        self.base + chrono::Duration::milliseconds(millis)
    }
}

/// How long to wait from `now` until `at` (zero when it has passed).
pub fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> std::time::Duration {
    (at - now).to_std().unwrap_or_default()
}
