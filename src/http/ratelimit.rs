//! Per-IP token buckets for the anonymous endpoints (`POST /booking`, `POST /auth/login`).
//! Per-booth scan limits live in the booth actor.

use std::net::IpAddr;

use boothhub_actors::domain::rate::{RateLimit, TokenBucket};
use chrono::{DateTime, Utc};
use dashmap::DashMap;

use crate::config::Limit;
use crate::error::ApiError;

/// Buckets are forgotten once full again, when the table grows past this.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct IpLimiter {
    limit: RateLimit,
    buckets: DashMap<IpAddr, TokenBucket>,
}

impl IpLimiter {
    pub fn new(limit: Limit) -> Self {
        IpLimiter {
            limit: RateLimit {
                per_minute: limit.per_minute,
                burst: limit.burst,
            },
            buckets: DashMap::new(),
        }
    }

    /// Takes one request for `ip`, or answers 429 with `Retry-After`.
    pub fn check(&self, ip: IpAddr, now: DateTime<Utc>) -> Result<(), ApiError> {
        if self.buckets.len() > SWEEP_ABOVE {
            self.buckets
                .retain(|_, bucket| !bucket.is_idle(self.limit, now));
        }
        let mut bucket = self
            .buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::full(self.limit, now));
        bucket.take(self.limit, now).map_err(ApiError::rate_limited)
    }
}
