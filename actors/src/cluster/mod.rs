//! Several nodes on one store (contract §8): this node's membership (a heartbeat row in the
//! store; no peer list) and the fan-out of changes other nodes commit to this node's listeners
//! (a tail of the store's fan-out log, in `all` order; see [`tail`]). A node started without a
//! cluster address runs alone ([`Cluster::solo`]) and lists only itself.
//!
//! Bookings: one node at a time acts for a booking (its session actor and timers), the holder
//! of its shard's lease ([`leases`]); a request that reaches another node is handed to it by
//! the transport. What must happen once and belongs to no booking (marking a dead node's
//! booths offline, placing the changes a dead node left behind) is done by the timekeeper,
//! the oldest live node.
//!
//! Sits beside the façade: it reads the supervisor's tables and publishes to the context's
//! router, as a commit does.

pub mod leases;
pub mod tail;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::context::HubContext;
use crate::domain::event::{EventKind, Stream};
use crate::domain::ids::NodeId;
use crate::domain::records::NodeInfo;
use crate::error::HubError;
use crate::metrics::{
    CLUSTER_EVENTS_FANNED_IN, CLUSTER_FANOUT_HOLES_SKIPPED, CLUSTER_NODES, CLUSTER_PUSH_LATENCY,
    CLUSTER_TAKEOVERS, CLUSTER_TIMEKEEPER,
};
use crate::ownership::Owner;
use crate::session::SessionMsg;
use crate::store::{Announced, ClusterStore, Fanned, Revocation};
use crate::supervisor::Children;

use self::tail::Cursor;

/// How often a node writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How long a heartbeat keeps a node listed: a node that stops beating (kill -9, a lost
/// machine, a long pause) leaves the membership this long after its last beat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(10);
/// How long one read of the membership lets a node keep time: longer than a beat, shorter
/// than the heartbeat's TTL, so that a node that stops reading (or was paused) stops applying
/// deadlines before another can take over.
const KEEPER_LEASE: Duration = Duration::from_secs(5);
/// How far behind the head of `all` a joining node starts its tail: changes that took their
/// seqs before it joined but were stored after are handed over too (listeners drop what they
/// have already).
const JOIN_LOOKBACK: u64 = 64;
/// How often the fan-out log is read for changes of other nodes when it is idle.
const TAIL_EVERY: Duration = Duration::from_millis(20);
/// Changes read from the fan-out log at once.
const TAIL_PAGE: u32 = 256;

/// The open WebSockets of this node, as the transport counts them.
pub type ConnectionCount = Arc<dyn Fn() -> u64 + Send + Sync>;
/// What this node does with a revocation another node announced: the transport closes its
/// own sockets of the tokens.
pub type RevocationHandler = Arc<dyn Fn(&Revocation) + Send + Sync>;

/// How often a node reads the revocations the others announced.
const REVOCATIONS_EVERY: Duration = Duration::from_millis(500);
/// How far back each read of the revocations reaches beyond the last one: announcements
/// written late or by a node whose clock is behind are still seen (ids are remembered, so
/// none is applied twice).
const REVOCATIONS_OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

/// This node as a member: who it is, and what it tells the others.
pub struct Cluster {
    id: NodeId,
    address: String,
    /// When this node (re)joined: the oldest live node is the timekeeper.
    started_at: std::sync::Mutex<DateTime<Utc>>,
    store: Option<Arc<dyn ClusterStore>>,
    ctx: Arc<HubContext>,
    children: Arc<Children>,
    connections: ConnectionCount,
    joined: AtomicBool,
    stop: watch::Sender<bool>,
    /// The heartbeat task: stopped before the node's row is deleted at leave.
    beating: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    revoked: std::sync::OnceLock<RevocationHandler>,
    /// This node's shard leases.
    leases: Arc<leases::Leases>,
    /// The live nodes as last read at a beat.
    members: std::sync::Mutex<Vec<NodeInfo>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("address", &self.address)
            .field("clustered", &self.store.is_some())
            .finish()
    }
}

impl Cluster {
    /// A node that runs alone: its membership is itself.
    pub fn solo(
        address: String,
        ctx: Arc<HubContext>,
        children: Arc<Children>,
        connections: ConnectionCount,
    ) -> Arc<Cluster> {
        let cluster = Cluster::new(address, None, ctx, children, connections);
        cluster.joined.store(true, Ordering::Release);
        Arc::new(cluster)
    }

    /// Joins the cluster of `store`: writes this node's first heartbeat, reads the membership,
    /// then keeps beating and tails the changes of the other nodes until [`Cluster::leave`].
    pub async fn join(
        address: String,
        store: Arc<dyn ClusterStore>,
        ctx: Arc<HubContext>,
        children: Arc<Children>,
        connections: ConnectionCount,
    ) -> Result<Arc<Cluster>, HubError> {
        let cluster = Arc::new(Cluster::new(
            address,
            Some(Arc::clone(&store)),
            ctx,
            children,
            connections,
        ));
        // Changes committed from here on are fanned out; the tail starts at the head of
        // `all` read after that, so no change falls between the two.
        store.fan_out_as(cluster.id);
        let head = cluster.ctx.store.stream_head(Stream::All).await?;
        store
            .heartbeat(&cluster.info(cluster.ctx.clock.now()), HEARTBEAT_TTL)
            .await?;
        let read_at = tokio::time::Instant::now();
        let nodes = store.nodes().await?;
        cluster.note_membership(&nodes, read_at).await;
        // A node that starts alone takes every lease now; one that joins others gets its
        // share as they hand it over.
        leases::balance(&cluster.leases, store.as_ref(), &nodes).await;
        cluster.joined.store(true, Ordering::Release);
        info!(node = %cluster.id, address = %cluster.address, nodes = nodes.len(), "joined the cluster");
        let beating = tokio::spawn(beat(Arc::clone(&cluster), cluster.stop.subscribe()));
        if let Ok(mut slot) = cluster.beating.lock() {
            *slot = Some(beating);
        }
        tokio::spawn(follow_revocations(
            Arc::clone(&cluster),
            cluster.stop.subscribe(),
        ));
        tokio::spawn(watch_leases(Arc::clone(&cluster), cluster.stop.subscribe()));
        let start = head.saturating_sub(JOIN_LOOKBACK) + 1;
        tokio::spawn(follow(
            Arc::clone(&cluster),
            Cursor::at(start),
            cluster.stop.subscribe(),
        ));
        Ok(cluster)
    }

    fn new(
        address: String,
        store: Option<Arc<dyn ClusterStore>>,
        ctx: Arc<HubContext>,
        children: Arc<Children>,
        connections: ConnectionCount,
    ) -> Cluster {
        let id = NodeId::new();
        Cluster {
            id,
            address,
            started_at: std::sync::Mutex::new(ctx.clock.now()),
            leases: leases::Leases::new(id, Arc::clone(&ctx), Arc::clone(&children)),
            store,
            ctx,
            children,
            connections,
            joined: AtomicBool::new(false),
            stop: watch::channel(false).0,
            beating: std::sync::Mutex::new(None),
            revoked: std::sync::OnceLock::new(),
            members: std::sync::Mutex::new(vec![]),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Whether the node runs with others (`BOOTHHUB_CLUSTER_LISTEN` set).
    pub fn is_clustered(&self) -> bool {
        self.store.is_some()
    }

    /// Whether the node has joined (a lone node is its own membership from the start).
    pub fn is_joined(&self) -> bool {
        self.joined.load(Ordering::Acquire)
    }

    /// This node as its heartbeat describes it at `now`.
    pub fn info(&self, now: DateTime<Utc>) -> NodeInfo {
        NodeInfo {
            id: self.id,
            address: self.address.clone(),
            started_at: match self.started_at.lock() {
                Ok(at) => *at,
                Err(poisoned) => *poisoned.into_inner(),
            },
            last_seen_at: now,
            connections: (self.connections)(),
            sessions: self.children.session_count() as u64,
        }
    }

    /// The live nodes, oldest first.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, HubError> {
        let mut nodes = match &self.store {
            Some(store) => store.nodes().await?,
            None => vec![self.info(self.ctx.clock.now())],
        };
        nodes.sort_by_key(|n| (n.started_at, n.id));
        Ok(nodes)
    }

    /// Counts this node as joined now, after the others counted it out (it was paused or cut
    /// off past its heartbeat's TTL): the youngest member, holding no lease.
    fn rejoin_fresh(&self) {
        let now = self.ctx.clock.now();
        if let Ok(mut at) = self.started_at.lock() {
            *at = now;
        }
        warn!(node = %self.id, "this node was counted out of the cluster; rejoining as a fresh member");
    }

    /// Sets what this node does with the revocations other nodes announce.
    pub fn on_revocation(&self, handler: RevocationHandler) {
        let _ = self.revoked.set(handler);
    }

    /// Tells the other nodes that tokens stopped working (in the background: the change that
    /// revoked them is stored already; a node closes its sockets of them within a second).
    pub fn announce(&self, revocation: Revocation) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let announced = Announced {
            id: uuid::Uuid::new_v4().to_string(),
            origin: self.id,
            at: self.ctx.clock.now(),
            revocation,
        };
        tokio::spawn(async move {
            if let Err(err) = store.announce(&announced).await {
                warn!(error = %err, "a revocation was not announced to the other nodes");
            }
        });
    }

    /// Takes in a read of the membership made at `read_at`: the oldest live node is the
    /// timekeeper for [`KEEPER_LEASE`] from the read (a node that missed its own beat is not
    /// in the list and keeps no time until it is again).
    async fn note_membership(&self, nodes: &[NodeInfo], read_at: tokio::time::Instant) {
        if *self.stop.borrow() {
            return;
        }
        if let Ok(mut members) = self.members.lock() {
            *members = nodes.to_vec();
        }
        metrics::gauge!(CLUSTER_NODES).set(nodes.len() as f64);
        let keeper = nodes
            .iter()
            .min_by_key(|n| (n.started_at, n.id))
            .map(|n| n.id);
        let keeps_time = keeper == Some(self.id);
        let was = self.ctx.keeps_time();
        self.ctx
            .set_keeper(true, keeps_time, Some(read_at + KEEPER_LEASE));
        metrics::gauge!(CLUSTER_TIMEKEEPER).set(f64::from(u8::from(keeps_time)));
        if keeps_time != was {
            info!(node = %self.id, keeps_time, "timekeeping changed");
        }
        if keeps_time && !was {
            metrics::counter!(CLUSTER_TAKEOVERS, "what" => "timekeeping").increment(1);
        }
        if keeps_time {
            self.offline_booths_of_dead_nodes(nodes).await;
            if let Some(store) = &self.store {
                match store.place_left_behind().await {
                    Ok(0) => {}
                    Ok(placed) => {
                        metrics::counter!(CLUSTER_TAKEOVERS, "what" => "booking_change")
                            .increment(placed as u64);
                        info!(placed, "placed booking changes a node left behind");
                    }
                    Err(err) => warn!(error = %err, "could not place the changes left behind"),
                }
            }
        }
    }

    /// Marks offline the booths that nodes no longer live had recorded online and that did
    /// not reconnect elsewhere (the timekeeper's job: within the heartbeat's TTL and a beat
    /// of a node's death).
    async fn offline_booths_of_dead_nodes(&self, live: &[NodeInfo]) {
        let Some(store) = &self.store else {
            return;
        };
        let holders = match store.nodes_with_booths().await {
            Ok(holders) => holders,
            Err(err) => {
                warn!(error = %err, "could not read which nodes hold booths");
                return;
            }
        };
        for dead in holders
            .into_iter()
            .filter(|node| !live.iter().any(|l| l.id == *node))
        {
            let booths = match store.booths_of(dead).await {
                Ok(booths) => booths,
                Err(err) => {
                    warn!(node = %dead, error = %err, "could not read the booths of a node that left");
                    continue;
                }
            };
            let mut done = true;
            for booth in &booths {
                if let Err(err) = self.take_offline(store, *booth, dead).await {
                    warn!(booth_id = %booth, error = %err, "a booth of a node that left is not marked offline yet");
                    done = false;
                }
            }
            if done {
                info!(node = %dead, booths = booths.len(), "marked offline the booths of a node that left");
                if let Err(err) = store.forget_booths_of(dead).await {
                    warn!(node = %dead, error = %err, "could not forget the booths of a node that left");
                }
            }
        }
    }

    async fn take_offline(
        &self,
        store: &Arc<dyn ClusterStore>,
        booth: crate::domain::ids::BoothId,
        dead: NodeId,
    ) -> Result<(), HubError> {
        if !store.take_booth(booth, dead, self.id).await? {
            return Ok(()); // it reconnected to another node meanwhile
        }
        let Some(record) = self.ctx.store.booth(booth).await? else {
            return Ok(());
        };
        crate::booth::record_offline(
            &self.ctx,
            booth,
            record.outlet_id,
            "its hub node left the cluster",
        )
        .await?;
        metrics::counter!(CLUSTER_TAKEOVERS, "what" => "booth").increment(1);
        Ok(())
    }

    /// Stops beating and tailing and takes this node out of the membership at once.
    pub async fn leave(&self) {
        let _ = self.stop.send(true);
        let beating = self.beating.lock().ok().and_then(|mut slot| slot.take());
        if let Some(beating) = beating {
            // A beat already on its way would write the row again after the delete.
            beating.abort();
            let _ = beating.await;
        }
        self.joined.store(false, Ordering::Release);
        self.ctx
            .set_timekeeping(self.store.is_some(), self.store.is_none());
        if let Some(store) = &self.store {
            // Out of the membership first, so that the others no longer prefer this node for
            // its shards; then its actors stop and its leases are free for them to take at
            // their next beat.
            match store.leave(self.id).await {
                Ok(()) => info!(node = %self.id, "left the cluster"),
                Err(err) => {
                    warn!(error = %err, "could not leave the cluster; the heartbeat will expire")
                }
            }
            leases::give_up_all(&self.leases, store.as_ref()).await;
        }
    }

    /// Hands a change another node committed to this node's listeners.
    async fn hand_over(&self, fanned: Fanned) {
        if fanned.origin == self.id {
            return;
        }
        let now = self.ctx.clock.now();
        for event in &fanned.events {
            let took = (now - event.event.at).to_std().unwrap_or_default();
            metrics::histogram!(CLUSTER_PUSH_LATENCY).record(took.as_secs_f64());
        }
        metrics::counter!(CLUSTER_EVENTS_FANNED_IN).increment(fanned.events.len() as u64);
        let config_changed = fanned
            .events
            .iter()
            .any(|e| e.event.event == EventKind::ConfigUpdated);
        if config_changed {
            // Another node changed the system config: sessions here use it from now on, and
            // waiting arrival deadlines move as on the node that changed it.
            match self.ctx.store.system_config().await {
                Ok(Some(config)) => {
                    self.ctx.set_config(config);
                    for actor in self.children.session_actors() {
                        let _ = actor.cast(SessionMsg::Retune.into());
                    }
                }
                Ok(None) => {}
                Err(err) => warn!(error = %err, "could not read the changed system config"),
            }
        }
        let mut bookings: Vec<_> = fanned
            .events
            .iter()
            .filter_map(|e| e.event.booking_id)
            .collect();
        bookings.sort_unstable();
        bookings.dedup();
        for booking in bookings {
            if let Some(actor) = self.children.running(booking) {
                let _ = actor.cast(SessionMsg::Refresh.into());
            } else if matches!(self.ctx.ownership.owner(booking), Owner::Here { .. }) {
                // A booking made on another node in a shard this node holds: its timer runs
                // here. Started beside the tail (it raises the booking's fence), which goes
                // on handing changes over meanwhile.
                let children = Arc::clone(&self.children);
                tokio::spawn(async move {
                    if let Err(err) = children.session(booking).await {
                        warn!(booking_id = %booking, error = %err, "no session actor for a booking made elsewhere");
                    }
                });
            }
        }
        self.ctx.publish(fanned.events);
    }
}

/// Writes this node's heartbeat every [`HEARTBEAT_EVERY`] until told to stop.
async fn beat(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let Some(store) = cluster.store.clone() else {
        return;
    };
    let mut last_beat = tokio::time::Instant::now();
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
            _ = stop.changed() => return,
        }
        if last_beat.elapsed() > HEARTBEAT_TTL {
            // Paused or cut off past the heartbeat's TTL: the others counted this node out
            // and took its leases. It comes back as a fresh member, the youngest.
            cluster.rejoin_fresh();
        }
        let info = cluster.info(cluster.ctx.clock.now());
        if let Err(err) = store.heartbeat(&info, HEARTBEAT_TTL).await {
            warn!(error = %err, "heartbeat not written");
            continue;
        }
        last_beat = tokio::time::Instant::now();
        if last_sweep.elapsed() >= leases::SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            leases::sweep(&cluster.leases);
        }
        let read_at = tokio::time::Instant::now();
        match store.nodes().await {
            Ok(nodes) => {
                cluster.note_membership(&nodes, read_at).await;
                if !*stop.borrow() {
                    leases::balance(&cluster.leases, store.as_ref(), &nodes).await;
                }
            }
            // The role and the leases read before lapse by themselves.
            Err(err) => warn!(error = %err, "membership not read"),
        }
    }
}

/// Reads the shard leases between beats ([`leases::watch`]) while they are unsettled: some
/// shard has no known holder, or one this node is preferred for is held elsewhere (a
/// handover or a takeover under way). Settled, the beat's read is enough: reading the
/// leases four times a second on every node costs the store more than it saves.
async fn watch_leases(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let Some(store) = cluster.store.clone() else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(leases::WATCH_EVERY) => {}
            _ = stop.changed() => return,
        }
        let known = match cluster.members.lock() {
            Ok(members) => members.clone(),
            Err(_) => continue,
        };
        if !leases::unsettled(&cluster.leases, &known) {
            continue;
        }
        // The membership too: a node that left is no longer preferred at once.
        match store.nodes().await {
            Ok(nodes) => leases::watch(&cluster.leases, store.as_ref(), &nodes).await,
            Err(err) => warn!(error = %err, "membership not read"),
        }
    }
}

/// Tails the fan-out log and hands other nodes' changes to this node's listeners.
async fn follow(cluster: Arc<Cluster>, mut cursor: Cursor, mut stop: watch::Receiver<bool>) {
    let Some(store) = cluster.store.clone() else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TAIL_EVERY) => {}
            _ = stop.changed() => return,
        }
        // The head of `all` says whether anything was committed since; most reads stop here.
        let head = match cluster.ctx.store.stream_head(Stream::All).await {
            Ok(head) => head,
            Err(err) => {
                warn!(error = %err, "the head of `all` could not be read");
                continue;
            }
        };
        while head >= cursor.next() {
            let rows = match store.fanned_from(cursor.next(), head, TAIL_PAGE).await {
                Ok(rows) => rows,
                Err(err) => {
                    warn!(error = %err, "the fan-out log could not be read");
                    break;
                }
            };
            let full = rows.len() == TAIL_PAGE as usize;
            let before = cursor.next();
            let taken = cursor.take(rows, Instant::now());
            if taken.skipped > 0 {
                warn!(
                    skipped = taken.skipped,
                    "holes in the fan-out log given up on"
                );
                metrics::counter!(CLUSTER_FANOUT_HOLES_SKIPPED).increment(taken.skipped);
            }
            for fanned in taken.rows {
                cluster.hand_over(fanned).await;
            }
            // Read on only while whole pages keep the cursor moving.
            if !full || cursor.next() == before {
                break;
            }
        }
    }
}

/// Reads the revocations other nodes announce and hands each to this node's handler, once.
async fn follow_revocations(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let Some(store) = cluster.store.clone() else {
        return;
    };
    let mut since = cluster.ctx.clock.now();
    let mut seen = std::collections::HashMap::<String, DateTime<Utc>>::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REVOCATIONS_EVERY) => {}
            _ = stop.changed() => return,
        }
        let read_at = cluster.ctx.clock.now();
        let announced = match store.revocations_since(since - REVOCATIONS_OVERLAP).await {
            Ok(announced) => announced,
            Err(err) => {
                warn!(error = %err, "revocations not read");
                continue;
            }
        };
        for one in announced {
            if seen.insert(one.id.clone(), one.at).is_some() || one.origin == cluster.id {
                continue;
            }
            if let Some(handler) = cluster.revoked.get() {
                handler(&one.revocation);
            }
        }
        since = read_at;
        seen.retain(|_, at| *at >= since - REVOCATIONS_OVERLAP - REVOCATIONS_OVERLAP);
    }
}
