//! A token bucket: `capacity` requests at once, refilled at `per_minute`. Pure: the caller
//! passes the time.

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    updated: DateTime<Utc>,
}

impl TokenBucket {
    pub fn full(limit: RateLimit, now: DateTime<Utc>) -> Self {
        TokenBucket {
            tokens: f64::from(limit.burst),
            updated: now,
        }
    }

    /// Takes one token, or says how many whole seconds until one is back.
    pub fn take(&mut self, limit: RateLimit, now: DateTime<Utc>) -> Result<(), u64> {
        let per_second = f64::from(limit.per_minute) / 60.0;
        let elapsed = (now - self.updated).num_milliseconds().max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * per_second).min(f64::from(limit.burst));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if per_second <= 0.0 {
            return Err(60);
        }
        let wait = ((1.0 - self.tokens) / per_second).ceil().max(1.0);
        Err(wait as u64)
    }

    /// Whether the bucket is full again, so that it may be forgotten.
    pub fn is_idle(&self, limit: RateLimit, now: DateTime<Utc>) -> bool {
        let refill = (now - self.updated).num_seconds() as f64 * f64::from(limit.per_minute) / 60.0;
        self.tokens + refill >= f64::from(limit.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn burst_then_refill() {
        let limit = RateLimit {
            per_minute: 60,
            burst: 3,
        };
        let t0 = DateTime::UNIX_EPOCH;
        let mut bucket = TokenBucket::full(limit, t0);
        for _ in 0..3 {
            assert_eq!(bucket.take(limit, t0), Ok(()));
        }
        assert_eq!(bucket.take(limit, t0), Err(1));
        assert_eq!(bucket.take(limit, t0 + Duration::seconds(1)), Ok(()));
        assert!(!bucket.is_idle(limit, t0 + Duration::seconds(1)));
        assert!(bucket.is_idle(limit, t0 + Duration::seconds(10)));
    }

    #[test]
    fn slow_limits_ask_for_longer_waits() {
        let limit = RateLimit {
            per_minute: 6,
            burst: 1,
        };
        let t0 = DateTime::UNIX_EPOCH;
        let mut bucket = TokenBucket::full(limit, t0);
        assert_eq!(bucket.take(limit, t0), Ok(()));
        assert_eq!(bucket.take(limit, t0), Err(10));
    }
}
