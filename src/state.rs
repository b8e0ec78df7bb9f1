//! What every handler of every transport can reach ([`AppState`]): the hub, the config,
//! the limiters and the WebSocket settings. Below the transports, above the hub.

use std::sync::Arc;
use std::time::Duration;

use boothhub_actors::cluster::Cluster;
use boothhub_actors::hub::Hub;
use boothhub_actors::store::Revocation;
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::peer::PeerLink;
use crate::ratelimit::{AccountLimiter, IpLimiter};
use crate::token_sockets::TokenSockets;

/// Socket settings from the config.
#[derive(Clone, Copy, Debug)]
pub struct SocketSettings {
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub queue_capacity: usize,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    pub booking_limiter: Arc<IpLimiter>,
    pub login_limiter: Arc<IpLimiter>,
    /// Failed logins per e-mail address (contract §2).
    pub account_limiter: Arc<AccountLimiter>,
    pub sockets: SocketSettings,
    /// Open WebSockets per token (at most `ws.max_connections_per_token`).
    pub token_sockets: Arc<TokenSockets>,
    /// Every WebSocket's task (its reader, which owns its writer): shutdown waits for them
    /// to send their close frames.
    pub socket_tasks: TaskTracker,
    /// This node among the others (or alone).
    pub cluster: Arc<Cluster>,
    /// The channel to the other nodes, in a cluster: requests for bookings another node acts
    /// for are handed to it.
    pub peer: Option<Arc<PeerLink>>,
}

impl AppState {
    pub fn new(
        hub: Arc<Hub>,
        config: Arc<Config>,
        metrics: Option<PrometheusHandle>,
        token_sockets: Arc<TokenSockets>,
        cluster: Arc<Cluster>,
        peer: Option<Arc<PeerLink>>,
    ) -> Self {
        let limits = &config.rate_limits;
        let ws = config.ws;
        AppState {
            sockets: SocketSettings {
                ping_interval: Duration::from_secs(ws.ping_interval_seconds),
                idle_timeout: Duration::from_secs(ws.idle_timeout_seconds),
                queue_capacity: ws.queue_capacity,
            },
            token_sockets,
            cluster,
            peer,
            socket_tasks: TaskTracker::new(),
            booking_limiter: Arc::new(IpLimiter::new(limits.booking())),
            login_limiter: Arc::new(IpLimiter::new(limits.login())),
            account_limiter: Arc::new(AccountLimiter::new(
                limits.login_failures_per_account,
                limits.login_failure_window_minutes,
            )),
            hub,
            config,
            metrics,
        }
    }

    /// Tokens stopped working: closes this node's sockets of them and tells the other nodes
    /// of the cluster, which close theirs.
    pub fn revoke(&self, revocation: Revocation) {
        self.token_sockets.apply(&revocation);
        self.cluster.announce(revocation);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.hub.context().clock.now()
    }
}
