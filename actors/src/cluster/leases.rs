//! This node's shard leases (contract §8): each beat it renews the leases it holds, hands
//! over those another live node is preferred for, and reads the others: it takes those that
//! have no holder and prefer it (or that stayed without one for [`ORPHAN_WAIT`]). While a
//! handover or a takeover is under way it reads them four times a second. Which node a shard prefers is
//! rendezvous hashing over the live nodes, so every node computes the same spread from the
//! membership alone, and a node that joins or leaves moves only its share of shards.
//!
//! A lease lets its holder act until its TTL, less a margin, after the renewal was sent; the
//! holder's session actors carry the lease's token into every commit, and raise it on their
//! booking when they start, so a node whose lease was taken over can no longer commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::context::HubContext;
use crate::domain::ids::NodeId;
use crate::domain::records::NodeInfo;
use crate::metrics::{CLUSTER_LEASES_HELD, CLUSTER_TAKEOVERS};
use crate::ownership::{Holder, SHARDS, acting_until, shard_of};
use crate::store::{ClusterStore, ShardLease};
use crate::supervisor::Children;

/// How long a lease lasts unless renewed (a dead holder's shards are taken this long after
/// its last renewal, at most).
pub const LEASE_TTL: Duration = Duration::from_secs(8);
/// How much sooner than the store a holder considers its lease over: room for the store's
/// clock to run ahead of this node's, and for the renewal's own time on the wire.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
/// How long a shard may go without a holder before any node takes it, not only the one it
/// prefers (which may be gone without the membership showing it yet).
const ORPHAN_WAIT: Duration = Duration::from_secs(4);
/// How often a node reads the leases between beats ([`watch`]).
pub const WATCH_EVERY: Duration = Duration::from_millis(250);
/// How often a node makes sure every live booking of its shards has its actor ([`sweep`]).
pub const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// The node a shard prefers among the live nodes: the highest rendezvous hash.
pub fn preferred(shard: u32, nodes: &[NodeInfo]) -> Option<NodeId> {
    nodes
        .iter()
        .max_by_key(|node| (weight(shard, node.id), node.id))
        .map(|node| node.id)
}

/// A stable hash of (shard, node): FNV-1a, the same on every node and every build.
fn weight(shard: u32, node: NodeId) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in shard.to_be_bytes().iter().chain(node.0.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// This node's side of the shard leases: who it is, what it starts and stops for them, and
/// what it remembers between reads.
#[derive(Debug)]
pub struct Leases {
    me: NodeId,
    ctx: Arc<HubContext>,
    children: Arc<Children>,
    orphans: Orphans,
    /// Lease work takes turns: a renewal, a handover, a read of the others' leases and the
    /// give-up at leave never interleave.
    turn: tokio::sync::Mutex<()>,
}

impl Leases {
    pub fn new(me: NodeId, ctx: Arc<HubContext>, children: Arc<Children>) -> Arc<Leases> {
        Arc::new(Leases {
            me,
            ctx,
            children,
            orphans: Orphans::default(),
            turn: tokio::sync::Mutex::new(()),
        })
    }
}

/// What a node remembers about the shards it saw without a holder: since when.
#[derive(Debug, Default)]
pub struct Orphans {
    since: Mutex<HashMap<u32, Instant>>,
}

impl Orphans {
    /// Notes whether `shard` has a holder at `now`; answers how long it has had none.
    fn note(&self, shard: u32, held: bool, now: Instant) -> Duration {
        let mut since = match self.since.lock() {
            Ok(since) => since,
            Err(poisoned) => poisoned.into_inner(),
        };
        if held {
            since.remove(&shard);
            return Duration::ZERO;
        }
        now - *since.entry(shard).or_insert(now)
    }
}

/// Every beat: renews the leases this node holds, or hands over those another live node is
/// preferred for; then looks at the others ([`watch`]).
pub async fn balance(leases: &Arc<Leases>, store: &dyn ClusterStore, nodes: &[NodeInfo]) {
    let _turn = leases.turn.lock().await;
    let mine = leases.ctx.ownership.mine();
    let outcomes = join_all(
        mine.into_iter()
            .map(|(shard, token)| keep(leases, store, nodes, shard, token)),
    )
    .await;
    let lost = outcomes.iter().filter(|kept| !**kept).count();
    if lost > 0 {
        info!(lost, "shard leases given up or lost");
    }
    metrics::gauge!(CLUSTER_LEASES_HELD).set(leases.ctx.ownership.mine().len() as f64);
    look(leases, store, nodes).await;
}

/// Renews this node's lease of `shard`, or hands it over; `false` when no longer held.
async fn keep(
    leases: &Leases,
    store: &dyn ClusterStore,
    nodes: &[NodeInfo],
    shard: u32,
    token: i64,
) -> bool {
    let ownership = &leases.ctx.ownership;
    let me = leases.me;
    if let Some(node) = preferred(shard, nodes).filter(|node| *node != me) {
        // A node that joined (or came back) is preferred: hand the shard over. Requests go
        // to it from now on; it takes the shard at once ([`watch`]).
        give_up(leases, store, shard, token).await;
        if let Some(info) = nodes.iter().find(|n| n.id == node) {
            ownership.set(
                shard,
                Holder::Other {
                    node,
                    address: info.address.clone(),
                },
            );
        }
        return false;
    }
    let sent = Instant::now();
    match store.renew_lease(shard, me, token, LEASE_TTL).await {
        Ok(true) => {
            let until = acting_until(sent, LEASE_TTL, LEASE_MARGIN);
            ownership.set(shard, Holder::Me { token, until });
            true
        }
        Ok(false) => {
            warn!(
                shard,
                token, "a shard lease expired before it was renewed; giving it up"
            );
            ownership.set(shard, Holder::Nobody);
            leases.children.stop_shard(shard).await;
            false
        }
        // Lapses by itself unless a later renewal gets through.
        Err(err) => {
            warn!(shard, error = %err, "a shard lease was not renewed");
            true
        }
    }
}

/// Reads the leases of the shards this node does not hold: learns their holders (where to
/// hand their requests), and takes those without one that prefer this node, or that stayed
/// without one for [`ORPHAN_WAIT`]. Runs every beat, and every [`WATCH_EVERY`] in between
/// while the leases are [`unsettled`], so that a shard handed over is taken, and its new
/// holder known, within a fraction of a second.
pub async fn watch(leases: &Arc<Leases>, store: &dyn ClusterStore, nodes: &[NodeInfo]) {
    let _turn = leases.turn.lock().await;
    look(leases, store, nodes).await;
}

/// [`watch`], in this node's turn for its leases.
async fn look(leases: &Arc<Leases>, store: &dyn ClusterStore, nodes: &[NodeInfo]) {
    let stored = match store.leases().await {
        Ok(stored) => stored,
        Err(err) => {
            warn!(error = %err, "the shard leases could not be read");
            return;
        }
    };
    let seen: HashMap<u32, ShardLease> = stored.into_iter().map(|l| (l.shard, l)).collect();
    let ownership = &leases.ctx.ownership;
    let now = Instant::now();
    let mut orphans = vec![];
    for shard in 0..SHARDS {
        if matches!(ownership.holder(shard), Holder::Me { .. }) {
            continue;
        }
        let lease = seen.get(&shard).cloned().unwrap_or(ShardLease {
            shard,
            owner: None,
            token: None,
        });
        match lease.owner {
            Some(owner) => {
                leases.orphans.note(shard, true, now);
                let holder = match nodes.iter().find(|n| n.id == owner) {
                    Some(node) if owner != leases.me => Holder::Other {
                        node: owner,
                        address: node.address.clone(),
                    },
                    // Its holder left the membership (its lease has yet to expire), or is
                    // this node from before a renewal whose answer was lost: nobody to ask.
                    _ => Holder::Nobody,
                };
                ownership.set(shard, holder);
            }
            None => {
                let waited = leases.orphans.note(shard, false, now);
                if preferred(shard, nodes) == Some(leases.me) || waited >= ORPHAN_WAIT {
                    orphans.push(lease);
                } else if !matches!(ownership.holder(shard), Holder::Other { .. }) {
                    ownership.set(shard, Holder::Nobody);
                }
            }
        }
    }
    if orphans.is_empty() {
        return;
    }
    let taken: Vec<u32> = join_all(orphans.into_iter().map(|lease| take(leases, store, lease)))
        .await
        .into_iter()
        .flatten()
        .collect();
    let held = ownership.mine().len();
    metrics::gauge!(CLUSTER_LEASES_HELD).set(held as f64);
    if !taken.is_empty() {
        info!(taken = taken.len(), held, "shard leases taken");
        tokio::spawn(start_sessions(Arc::clone(leases), taken));
    }
}

/// Whether some shard has no known holder, or is held elsewhere while this node is
/// preferred for it, by the live nodes `nodes`.
pub fn unsettled(leases: &Leases, nodes: &[NodeInfo]) -> bool {
    let ownership = &leases.ctx.ownership;
    (0..SHARDS).any(|shard| match ownership.holder(shard) {
        Holder::Nobody => true,
        Holder::Other { .. } => preferred(shard, nodes) == Some(leases.me),
        Holder::Me { .. } => false,
    })
}

/// Takes a shard seen without a holder: its shard when this node got it.
async fn take(leases: &Leases, store: &dyn ClusterStore, seen: ShardLease) -> Option<u32> {
    let sent = Instant::now();
    match store.take_lease(&seen, leases.me, LEASE_TTL).await {
        Ok(Some(token)) => {
            let until = acting_until(sent, LEASE_TTL, LEASE_MARGIN);
            leases
                .ctx
                .ownership
                .set(seen.shard, Holder::Me { token, until });
            leases.orphans.note(seen.shard, true, sent);
            if seen.token.is_some() {
                metrics::counter!(CLUSTER_TAKEOVERS, "what" => "lease").increment(1);
            }
            Some(seen.shard)
        }
        // Another node took it first: the next read says which.
        Ok(None) => None,
        Err(err) => {
            warn!(shard = seen.shard, error = %err, "a shard lease could not be taken");
            None
        }
    }
}

/// Stops acting for `shard` (its actors stopped first, so nothing commits after), then gives
/// its lease up in the store so that another node can take it at once.
async fn give_up(leases: &Leases, store: &dyn ClusterStore, shard: u32, token: i64) {
    leases.ctx.ownership.set(shard, Holder::Nobody);
    leases.children.stop_shard(shard).await;
    if let Err(err) = store.release_lease(shard, leases.me, token).await {
        warn!(shard, error = %err, "a shard lease was not given up; it expires by itself");
    }
}

/// Gives up every lease this node holds (it is leaving the leases).
pub async fn give_up_all(leases: &Leases, store: &dyn ClusterStore) {
    let _turn = leases.turn.lock().await;
    let mine = leases.ctx.ownership.mine();
    let count = mine.len();
    join_all(
        mine.into_iter()
            .map(|(shard, token)| give_up(leases, store, shard, token)),
    )
    .await;
    metrics::gauge!(CLUSTER_LEASES_HELD).set(0.0);
    info!(leases = count, "shard leases given up");
}

/// Starts the session actors of the live bookings of every shard this node holds that have
/// none here (a booking made while its shard was changing hands, an actor that could not
/// start or restart): run every [`SWEEP_EVERY`].
pub fn sweep(leases: &Arc<Leases>) {
    let held: Vec<u32> = leases
        .ctx
        .ownership
        .mine()
        .into_iter()
        .map(|(shard, _)| shard)
        .collect();
    if !held.is_empty() {
        tokio::spawn(start_sessions(Arc::clone(leases), held));
    }
}

/// Starts a session actor for each live booking of `shards` that has none: their timers run
/// here now, and deadlines that passed while a shard had no holder are applied. Runs beside
/// the leases' work (it reads every live booking, and each start raises a fence), so that it
/// never delays a renewal.
async fn start_sessions(leases: Arc<Leases>, shards: Vec<u32>) {
    let live = match leases.ctx.store.live_bookings().await {
        Ok(live) => live,
        Err(err) => {
            warn!(error = %err, "live bookings not read; the next sweep starts their actors");
            return;
        }
    };
    let mut started = 0;
    for booking in live
        .into_iter()
        .filter(|b| shards.contains(&shard_of(b.id)))
        .filter(|b| leases.children.running(b.id).is_none())
    {
        match leases.children.start(booking).await {
            Ok(_) => started += 1,
            Err(err) => warn!(error = %err, "a session actor of a held shard did not start"),
        }
    }
    if started > 0 {
        info!(
            started,
            shards = shards.len(),
            "session actors started for held shards"
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn node() -> NodeInfo {
        NodeInfo {
            id: NodeId::new(),
            address: "127.0.0.1:7443".into(),
            started_at: DateTime::UNIX_EPOCH,
            last_seen_at: DateTime::UNIX_EPOCH,
            connections: 0,
            sessions: 0,
        }
    }

    fn spread(nodes: &[NodeInfo]) -> Vec<Option<NodeId>> {
        (0..SHARDS).map(|shard| preferred(shard, nodes)).collect()
    }

    #[test]
    fn every_node_computes_the_same_spread_whatever_the_order_it_lists_nodes_in() {
        let nodes = vec![node(), node(), node()];
        let mut reversed = nodes.clone();
        reversed.reverse();
        assert_eq!(spread(&nodes), spread(&reversed));
        assert_eq!(preferred(0, &[]), None);
    }

    #[test]
    fn a_node_that_leaves_moves_only_its_own_shards() {
        let nodes = vec![node(), node(), node()];
        let before = spread(&nodes);
        let gone = nodes[1].id;
        let after = spread(&[nodes[0].clone(), nodes[2].clone()]);
        for (was, is) in before.iter().zip(&after) {
            if *was != Some(gone) {
                assert_eq!(was, is, "a shard of a node that stayed moved");
            } else {
                assert_ne!(*is, Some(gone));
            }
        }
        for node in &nodes {
            let share = before.iter().filter(|p| **p == Some(node.id)).count();
            assert!(share >= 4, "three nodes share 32 shards: {share}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_shard_is_orphaned_from_the_first_time_it_was_seen_without_a_holder() {
        let orphans = Orphans::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(orphans.note(3, false, start), Duration::ZERO);
        assert_eq!(orphans.note(3, false, start + 4 * second), 4 * second);
        assert_eq!(orphans.note(3, true, start + 5 * second), Duration::ZERO);
        assert_eq!(orphans.note(3, false, start + 6 * second), Duration::ZERO);
    }
}
