//! What every actor shares ([`HubContext`]) and the hub's tunables ([`HubSettings`]). Sits
//! below the actors: they hold the context, none of them owns it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dashmap::DashMap;

use crate::clock::SharedClock;
use crate::domain::config::SystemConfig;
use crate::domain::event::StoredEvent;
use crate::domain::ids::BoothId;
use crate::domain::qr::QrSigner;
use crate::domain::rate::RateLimit;
use crate::metrics::EVENTS_PUBLISHED;
use crate::ownership::Ownership;
use crate::router::{Published, StreamRouter};
use crate::store::{Presence, Store};

/// What every actor shares: the store, the clock, the QR secret, the system config, the
/// router that hands committed events to their streams' listeners, and booth presence.
#[derive(Debug)]
pub struct HubContext {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub qr: QrSigner,
    pub router: StreamRouter,
    /// The last presence of each booth seen by this hub.
    pub presence: DashMap<BoothId, Presence>,
    config: RwLock<SystemConfig>,
    /// Which node acts for each booking (all of them, alone).
    pub ownership: Ownership,
    /// Whether other nodes commit to the same store (contract §8): then a session actor's
    /// state may be older than the store's, and is read again before a deadline is applied.
    clustered: AtomicBool,
    /// Whether this node is the timekeeper, which does what must happen once for the whole
    /// cluster and belongs to no booking (marking a dead node's booths offline, placing the
    /// changes a dead node left behind): a node alone always is (see `cluster`).
    keeps_time: AtomicBool,
    /// In a cluster, until when the last membership read lets this node keep time: a node
    /// that cannot read the membership (or was paused) stops being the timekeeper after it.
    keeper_until: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl HubContext {
    /// The e-mail address of a user, for the audit trail (none when it cannot be read).
    pub async fn email_of(&self, user: crate::domain::ids::UserId) -> Option<String> {
        self.store.user(user).await.ok().flatten().map(|u| u.email)
    }

    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        qr: QrSigner,
        config: SystemConfig,
        ownership: Ownership,
    ) -> Self {
        HubContext {
            ownership,
            store,
            clock,
            qr,
            router: StreamRouter::default(),
            presence: DashMap::new(),
            config: RwLock::new(config),
            clustered: AtomicBool::new(false),
            keeps_time: AtomicBool::new(true),
            keeper_until: std::sync::Mutex::new(None),
        }
    }

    pub fn config(&self) -> SystemConfig {
        match self.config.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_config(&self, config: SystemConfig) {
        match self.config.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    pub fn is_clustered(&self) -> bool {
        self.clustered.load(Ordering::Acquire)
    }

    pub fn keeps_time(&self) -> bool {
        self.keeps_time.load(Ordering::Acquire)
            && self.keeper_until.lock().map_or(true, |until| {
                until.is_none_or(|at| tokio::time::Instant::now() < at)
            })
    }

    /// Whether this node runs with others, and whether it is the one that applies deadlines
    /// (for good, until told otherwise).
    pub fn set_timekeeping(&self, clustered: bool, keeps_time: bool) {
        self.set_keeper(clustered, keeps_time, None);
    }

    /// As [`HubContext::set_timekeeping`], for a role read from the membership at a moment:
    /// it lapses at `until` unless a newer read confirms it.
    pub fn set_keeper(
        &self,
        clustered: bool,
        keeps_time: bool,
        until: Option<tokio::time::Instant>,
    ) {
        if let Ok(mut current) = self.keeper_until.lock() {
            *current = until;
        }
        self.clustered.store(clustered, Ordering::Release);
        self.keeps_time.store(keeps_time, Ordering::Release);
    }

    /// Hands committed events to their streams' listeners. Called only after commit.
    pub fn publish(&self, events: Vec<StoredEvent>) {
        for event in events {
            metrics::counter!(EVENTS_PUBLISHED).increment(1);
            self.router.publish(&Arc::new(Published::new(event)));
        }
    }
}

/// Tunables of the hub, from the process config.
#[derive(Clone, Debug)]
pub struct HubSettings {
    pub scan_limit: RateLimit,
    pub ask_timeout: Duration,
    /// The first wait before an unacked booth event is sent again.
    pub retry_base: Duration,
    /// Streams one WebSocket connection may hold subscribed.
    pub max_streams: usize,
    /// Unacked events a booth actor keeps; beyond, the oldest is dead-lettered.
    pub max_unacked: usize,
    /// The node runs with others on one store (contract §8).
    pub clustered: bool,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            scan_limit: RateLimit {
                per_minute: 30,
                burst: 10,
            },
            ask_timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(1),
            max_streams: 100,
            max_unacked: 1024,
            clustered: false,
        }
    }
}
