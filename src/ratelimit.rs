//! Limits on anonymous callers, kept in this process's memory: per-IP token buckets for
//! `POST /booking` and `POST /auth/login`, and the per-account limit on failed logins of
//! contract §2 (10 failures for one e-mail address in 15 minutes → 429 for that address).
//! Per-booth scan limits live in the booth actor.
//!
//! A client chooses the keys of these tables (its address, the e-mail it types), so each table
//! holds at most a fixed number of them. When a table is full, entries that no longer limit
//! anything are swept (at most once a second); when it is still full, a new key is not
//! tracked and its request is let through (see [`Table::make_room`] for why).

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use boothhub_actors::domain::rate::{RateLimit, TokenBucket};
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use sha2::{Digest, Sha256};

use crate::config::Limit;
use crate::error::ApiError;
use crate::metrics::{LOGIN_ACCOUNT_LIMITED, RATE_LIMIT_SWEEPS, RATE_LIMIT_UNTRACKED};

/// Client addresses (IPv6: /64 networks) with a bucket at most.
const MAX_TRACKED_IPS: usize = 100_000;
/// E-mail addresses whose failed logins are counted at most.
const MAX_TRACKED_ACCOUNTS: usize = 100_000;
/// A full table is swept at most this often, so that a flood of new keys cannot make every
/// request walk the whole table.
const SWEEP_INTERVAL_MS: i64 = 1_000;

/// A map from a client-chosen key to its limiter state, holding at most `cap` keys (give or
/// take the inserts racing on other worker threads at the moment it fills: one per thread).
#[derive(Debug)]
struct Table<K: Eq + Hash, V> {
    cap: usize,
    entries: DashMap<K, V>,
    /// When the table was last swept, in milliseconds since the epoch.
    last_sweep_ms: AtomicI64,
    /// Which table, as the metric label.
    name: &'static str,
}

impl<K: Eq + Hash, V> Table<K, V> {
    fn new(name: &'static str, cap: usize) -> Self {
        Table {
            cap,
            entries: DashMap::new(),
            last_sweep_ms: AtomicI64::new(i64::MIN),
            name,
        }
    }

    /// Whether `key` is tracked already or may be added: there is room, or sweeping the
    /// entries for which `stale` says true made some.
    ///
    /// When the table is full of entries that still limit someone, the new key is refused and
    /// its request goes on unlimited by this table (a metric counts it). The other choice,
    /// answering 429 to every key not yet tracked, would let whoever fills the table lock out
    /// every real user; and evicting a live entry would let them wipe the count of the
    /// address they attack. Filling a table takes 100,000 keys that each still limit someone
    /// (a drained bucket, or a failed login within the window), i.e. many client addresses,
    /// each held back by its own per-IP limit; keys already tracked stay limited meanwhile.
    fn make_room(&self, key: &K, now: DateTime<Utc>, stale: impl Fn(&V) -> bool) -> bool {
        if self.entries.contains_key(key) || self.entries.len() < self.cap {
            return true;
        }
        let now_ms = now.timestamp_millis();
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let due = now_ms.saturating_sub(last) >= SWEEP_INTERVAL_MS;
        if due
            && self
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.entries.retain(|_, value| !stale(value));
            metrics::counter!(RATE_LIMIT_SWEEPS, "table" => self.name).increment(1);
        }
        let room = self.entries.len() < self.cap;
        if !room {
            metrics::counter!(RATE_LIMIT_UNTRACKED, "table" => self.name).increment(1);
        }
        room
    }
}

/// Token buckets per client address: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct IpLimiter {
    limit: RateLimit,
    buckets: Table<IpAddr, TokenBucket>,
}

impl IpLimiter {
    pub fn new(limit: Limit) -> Self {
        IpLimiter::with_capacity(limit, MAX_TRACKED_IPS)
    }

    fn with_capacity(limit: Limit, cap: usize) -> Self {
        IpLimiter {
            limit: RateLimit {
                per_minute: limit.per_minute,
                burst: limit.burst,
            },
            buckets: Table::new("ip", cap),
        }
    }

    /// Takes one request for `ip`, or answers 429 with `Retry-After`.
    pub fn check(&self, ip: IpAddr, now: DateTime<Utc>) -> Result<(), ApiError> {
        let key = client_key(ip);
        let limit = self.limit;
        if !self
            .buckets
            .make_room(&key, now, |bucket| bucket.is_idle(limit, now))
        {
            return Ok(());
        }
        let mut bucket = self
            .buckets
            .entries
            .entry(key)
            .or_insert_with(|| TokenBucket::full(limit, now));
        bucket.take(limit, now).map_err(ApiError::rate_limited)
    }
}

/// The key a client address is limited by: an IPv4 address, or the /64 network of an IPv6
/// one (one subscriber usually holds a whole /64, so per address would be no limit at all).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// The failed logins of one e-mail address in its current window.
#[derive(Debug)]
struct Failures {
    /// When the first failure of the window happened; the window ends `window` later.
    since: DateTime<Utc>,
    /// Failures since `since`.
    count: u32,
    /// Attempts admitted whose password check has not finished yet.
    in_flight: u32,
}

impl Failures {
    fn window_passed(&self, now: DateTime<Utc>, window: Duration) -> bool {
        now >= self.since + window
    }

    /// Limits nobody any more: no attempt under way and no failure in a running window.
    fn is_stale(&self, now: DateTime<Utc>, window: Duration) -> bool {
        self.in_flight == 0 && (self.count == 0 || self.window_passed(now, window))
    }
}

/// The e-mail address as counted: trimmed, lowercased, hashed (so that a long address costs
/// no more memory than a short one, and no address is kept in memory).
type AccountKey = [u8; 32];

fn account_key(email: &str) -> AccountKey {
    Sha256::digest(email.trim().to_lowercase().as_bytes()).into()
}

/// Failed logins per e-mail address (known or unknown alike): after `allowed` failures within
/// `window` of the first one, every login for that address answers 429 (even with the right
/// password) until the window has passed; a successful login clears the count.
///
/// The window is fixed, opened by the first failure: it bounds failures to `allowed` per
/// window, so at most `2 × allowed` can fall close together across the end of one window and
/// the start of the next. Password checks under way count against the limit too, so parallel
/// requests cannot get more than `allowed` guesses into one window.
#[derive(Debug)]
pub struct AccountLimiter {
    allowed: u32,
    window: Duration,
    accounts: Table<AccountKey, Failures>,
}

impl AccountLimiter {
    pub fn new(allowed: u32, window_minutes: u32) -> Self {
        AccountLimiter::with_capacity(allowed, window_minutes, MAX_TRACKED_ACCOUNTS)
    }

    fn with_capacity(allowed: u32, window_minutes: u32, cap: usize) -> Self {
        AccountLimiter {
            allowed: allowed.max(1),
            window: Duration::minutes(i64::from(window_minutes)),
            accounts: Table::new("login_account", cap),
        }
    }

    /// Admits one login attempt for `email`, or answers 429 with `Retry-After` while the
    /// address has used up its failures (or the attempts under way would use them up).
    /// The attempt must be settled with [`LoginAttempt::failed`] or
    /// [`LoginAttempt::succeeded`]; dropped unsettled (the request was cancelled) it counts
    /// as nothing.
    pub fn begin(&self, email: &str, now: DateTime<Utc>) -> Result<LoginAttempt<'_>, ApiError> {
        let key = account_key(email);
        let window = self.window;
        if !self
            .accounts
            .make_room(&key, now, |failures| failures.is_stale(now, window))
        {
            return Ok(LoginAttempt {
                limiter: self,
                key: None,
            });
        }
        let mut failures = self.accounts.entries.entry(key).or_insert(Failures {
            since: now,
            count: 0,
            in_flight: 0,
        });
        if failures.window_passed(now, window) {
            failures.count = 0;
        }
        if failures.count >= self.allowed {
            let left = failures.since + window - now;
            let seconds = (left.num_milliseconds() + 999) / 1000;
            metrics::counter!(LOGIN_ACCOUNT_LIMITED).increment(1);
            return Err(ApiError::rate_limited(u64::try_from(seconds).unwrap_or(1)));
        }
        if failures.count + failures.in_flight >= self.allowed {
            // The checks under way decide within a second whether this one may run.
            return Err(ApiError::rate_limited(1));
        }
        failures.in_flight += 1;
        Ok(LoginAttempt {
            limiter: self,
            key: Some(key),
        })
    }

    fn settle(&self, key: &AccountKey, failed_at: Option<DateTime<Utc>>) {
        let window = self.window;
        let Some(mut failures) = self.accounts.entries.get_mut(key) else {
            return;
        };
        failures.in_flight = failures.in_flight.saturating_sub(1);
        match failed_at {
            Some(now) => {
                if failures.count == 0 || failures.window_passed(now, window) {
                    failures.since = now;
                    failures.count = 0;
                }
                failures.count = failures.count.saturating_add(1);
            }
            None => failures.count = 0,
        }
        let forget = failures.in_flight == 0 && failures.count == 0;
        drop(failures);
        if forget {
            self.accounts
                .entries
                .remove_if(key, |_, f| f.in_flight == 0 && f.count == 0);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.accounts.entries.len()
    }
}

/// A login attempt admitted by [`AccountLimiter::begin`], to be settled once the password
/// check has answered.
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct LoginAttempt<'a> {
    limiter: &'a AccountLimiter,
    /// None when the address is not tracked (the table was full).
    key: Option<AccountKey>,
}

impl LoginAttempt<'_> {
    /// The password (or the account) was refused: one more failure for the address.
    pub fn failed(mut self, now: DateTime<Utc>) {
        if let Some(key) = self.key.take() {
            self.limiter.settle(&key, Some(now));
        }
    }

    /// The login succeeded: the address's failures are forgotten.
    pub fn succeeded(mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.settle(&key, None);
        }
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let Some(mut failures) = self.limiter.accounts.entries.get_mut(&key) else {
            return;
        };
        failures.in_flight = failures.in_flight.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(seconds)
    }

    fn retry_after(result: Result<LoginAttempt<'_>, ApiError>) -> Option<u64> {
        match result {
            Ok(_) => None,
            Err(err) => {
                assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
                err.retry_after
            }
        }
    }

    fn fail(limiter: &AccountLimiter, email: &str, at: DateTime<Utc>) {
        match limiter.begin(email, at) {
            Ok(attempt) => attempt.failed(at),
            Err(err) => panic!("refused too early: {err:?}"),
        }
    }

    #[test]
    fn ten_failures_in_the_window_refuse_the_address_until_the_window_has_passed() {
        let limiter = AccountLimiter::new(10, 15);
        for minute in 0..10 {
            fail(&limiter, "ana@x.id", t(minute * 60));
        }
        // The window opened with the first failure, at 0: it ends at 15 min.
        assert_eq!(retry_after(limiter.begin("ana@x.id", t(600))), Some(300));
        assert_eq!(retry_after(limiter.begin("ana@x.id", t(899))), Some(1));
        assert_eq!(retry_after(limiter.begin("ana@x.id", t(900))), None);
    }

    #[test]
    fn nine_failures_leave_the_address_free() {
        let limiter = AccountLimiter::new(10, 15);
        for second in 0..9 {
            fail(&limiter, "ana@x.id", t(second));
        }
        assert!(limiter.begin("ana@x.id", t(10)).is_ok());
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let limiter = AccountLimiter::new(3, 15);
        fail(&limiter, "ana@x.id", t(0));
        fail(&limiter, "ana@x.id", t(1));
        // A new window opens with this failure; the two above are forgotten.
        fail(&limiter, "ana@x.id", t(900));
        fail(&limiter, "ana@x.id", t(901));
        assert!(limiter.begin("ana@x.id", t(902)).is_ok());
        fail(&limiter, "ana@x.id", t(903));
        assert_eq!(retry_after(limiter.begin("ana@x.id", t(904))), Some(896));
    }

    #[test]
    fn the_address_is_counted_trimmed_and_lowercased() {
        let limiter = AccountLimiter::new(2, 15);
        fail(&limiter, "Ana@X.id", t(0));
        fail(&limiter, "  ana@x.ID ", t(1));
        assert!(retry_after(limiter.begin("ana@x.id", t(2))).is_some());
        assert!(limiter.begin("budi@x.id", t(2)).is_ok());
    }

    #[test]
    fn a_success_clears_the_failures_and_forgets_the_address() {
        let limiter = AccountLimiter::new(3, 15);
        fail(&limiter, "ana@x.id", t(0));
        fail(&limiter, "ana@x.id", t(1));
        limiter
            .begin("ana@x.id", t(2))
            .map(LoginAttempt::succeeded)
            .ok();
        assert_eq!(limiter.tracked(), 0);
        fail(&limiter, "ana@x.id", t(3));
        fail(&limiter, "ana@x.id", t(4));
        assert!(limiter.begin("ana@x.id", t(5)).is_ok(), "two, not four");
    }

    #[test]
    fn checks_under_way_count_against_the_limit() {
        let limiter = AccountLimiter::new(3, 15);
        let first = limiter.begin("ana@x.id", t(0));
        let second = limiter.begin("ana@x.id", t(0));
        let third = limiter.begin("ana@x.id", t(0));
        assert!(first.is_ok() && second.is_ok() && third.is_ok());
        assert_eq!(retry_after(limiter.begin("ana@x.id", t(0))), Some(1));
        // A cancelled attempt counts as nothing and frees its place.
        drop(third);
        let fourth = limiter.begin("ana@x.id", t(0));
        assert!(fourth.is_ok());
        for attempt in [first, second, fourth].into_iter().flatten() {
            attempt.failed(t(1));
        }
        assert_eq!(retry_after(limiter.begin("ana@x.id", t(2))), Some(899));
    }

    #[test]
    fn a_full_account_table_refuses_to_track_new_addresses_but_keeps_limiting_old_ones() {
        let limiter = AccountLimiter::with_capacity(2, 15, 3);
        for email in ["a@x.id", "b@x.id", "c@x.id"] {
            fail(&limiter, email, t(0));
            fail(&limiter, email, t(1));
        }
        assert_eq!(limiter.tracked(), 3);
        // A new address is let through untracked: its failures are not counted …
        for second in 2..10 {
            fail(&limiter, "new@x.id", t(second));
        }
        assert_eq!(limiter.tracked(), 3);
        // … while the tracked ones stay refused, and nobody is locked out for the table.
        assert!(retry_after(limiter.begin("a@x.id", t(10))).is_some());
        // Once their windows have passed, a sweep makes room.
        fail(&limiter, "new@x.id", t(900));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn a_full_ip_table_sweeps_idle_buckets_and_never_grows_past_its_cap() {
        let limit = Limit {
            per_minute: 60,
            burst: 1,
        };
        let limiter = IpLimiter::with_capacity(limit, 4);
        for n in 0..4u8 {
            assert!(
                limiter
                    .check(Ipv4Addr::new(10, 0, 0, n).into(), t(0))
                    .is_ok()
            );
        }
        // Full of drained buckets: a fifth address is let through untracked.
        for _ in 0..3 {
            assert!(
                limiter
                    .check(Ipv4Addr::new(10, 0, 1, 1).into(), t(0))
                    .is_ok()
            );
        }
        assert_eq!(limiter.buckets.entries.len(), 4);
        // The tracked ones are still limited.
        assert!(
            limiter
                .check(Ipv4Addr::new(10, 0, 0, 0).into(), t(0))
                .is_err()
        );
        // A second later their buckets are full again: the sweep makes room.
        assert!(
            limiter
                .check(Ipv4Addr::new(10, 0, 1, 1).into(), t(2))
                .is_ok()
        );
        assert!(
            limiter
                .check(Ipv4Addr::new(10, 0, 1, 1).into(), t(2))
                .is_err()
        );
        assert_eq!(limiter.buckets.entries.len(), 1);
    }

    #[test]
    fn a_full_table_is_swept_at_most_once_a_second() {
        let table: Table<u32, bool> = Table::new("test", 2);
        table.entries.insert(1, false);
        table.entries.insert(2, false);
        assert!(!table.make_room(&3, t(0), |stale| *stale));
        // Everything turns stale, but the last sweep was just now.
        table.entries.iter_mut().for_each(|mut e| *e = true);
        assert!(!table.make_room(&3, t(0), |stale| *stale));
        assert!(table.make_room(&3, t(1), |stale| *stale));
        assert!(table.entries.is_empty());
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_network() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a.into()), client_key(b.into()));
        assert_ne!(client_key(a.into()), client_key(c.into()));
        let mapped: Ipv6Addr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            client_key(mapped.into()),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
    }
}
