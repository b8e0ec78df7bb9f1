//! This node's shard leases (contract §8): each beat it renews the leases it holds, hands over
//! those another live node is preferred for, and takes those that have no holder and prefer
//! it (or that stayed without one for [`ORPHAN_BEATS`] beats). Which node a shard prefers is
//! rendezvous hashing over the live nodes, so every node computes the same spread from the
//! membership alone, and a node that joins or leaves moves only its share of shards.
//!
//! A lease lets its holder act until its TTL, less a margin, after the renewal was sent; the
//! holder's session actors carry the lease's token into every commit, and raise it on their
//! booking when they start, so a node whose lease was taken over can no longer commit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::domain::ids::NodeId;
use crate::domain::records::NodeInfo;
use crate::metrics::{CLUSTER_LEASES_HELD, CLUSTER_TAKEOVERS};
use crate::ownership::{Holder, SHARDS, acting_until, shard_of};
use crate::store::{ClusterStore, ShardLease};

use super::Cluster;

/// How long a lease lasts unless renewed (a dead holder's shards are taken this long after
/// its last renewal, at most).
pub const LEASE_TTL: Duration = Duration::from_secs(8);
/// How much sooner than the store a holder considers its lease over: room for the store's
/// clock to run ahead of this node's, and for the renewal's own time on the wire.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
/// Beats a shard may go without a holder before any node takes it, not only the one it
/// prefers (which may be gone without the membership showing it yet).
const ORPHAN_BEATS: u32 = 2;

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

/// What a node remembers between beats about the shards it does not hold.
#[derive(Debug, Default)]
pub struct Orphans {
    /// Consecutive beats each shard was seen without a holder.
    beats: Mutex<HashMap<u32, u32>>,
}

impl Orphans {
    /// Counts one more beat without a holder for `shard` (or forgets it, when held).
    fn note(&self, shard: u32, held: bool) -> u32 {
        let mut beats = match self.beats.lock() {
            Ok(beats) => beats,
            Err(poisoned) => poisoned.into_inner(),
        };
        if held {
            beats.remove(&shard);
            return 0;
        }
        let count = beats.entry(shard).or_default();
        *count += 1;
        *count
    }
}

/// What one beat did to a shard.
enum Outcome {
    /// Held, and still.
    Kept,
    Taken,
    /// Held, and given up or expired.
    Lost,
    /// Held by another node, or by none.
    Other,
}

/// One beat's work on the leases, given the live nodes just read.
pub(super) async fn balance(cluster: &Cluster, store: &dyn ClusterStore, nodes: &[NodeInfo]) {
    let leases = match store.leases().await {
        Ok(leases) => leases,
        Err(err) => {
            // Leases held lapse by themselves if this goes on (`LEASE_MARGIN`).
            warn!(error = %err, "the shard leases could not be read");
            return;
        }
    };
    let seen: HashMap<u32, ShardLease> = leases.into_iter().map(|l| (l.shard, l)).collect();
    let work = (0..SHARDS).map(|shard| {
        let lease = seen.get(&shard).cloned().unwrap_or(ShardLease {
            shard,
            owner: None,
            token: None,
        });
        one_shard(cluster, store, nodes, lease)
    });
    let outcomes = join_all(work).await;
    let taken: Vec<u32> = outcomes
        .iter()
        .zip(0..SHARDS)
        .filter_map(|(outcome, shard)| matches!(outcome, Outcome::Taken).then_some(shard))
        .collect();
    let lost = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Lost))
        .count();
    let held = cluster.ctx.ownership.mine().len();
    metrics::gauge!(CLUSTER_LEASES_HELD).set(held as f64);
    if !taken.is_empty() || lost > 0 {
        info!(taken = taken.len(), lost, held, "shard leases changed");
    }
    if !taken.is_empty() {
        start_sessions(cluster, &taken).await;
    }
}

async fn one_shard(
    cluster: &Cluster,
    store: &dyn ClusterStore,
    nodes: &[NodeInfo],
    seen: ShardLease,
) -> Outcome {
    let ownership = &cluster.ctx.ownership;
    let shard = seen.shard;
    let me = cluster.id;
    let prefers = preferred(shard, nodes);
    if let Holder::Me { token, .. } = ownership.holder(shard) {
        if prefers.is_some_and(|node| node != me) {
            // A node that joined (or came back) is preferred: hand the shard over.
            give_up(cluster, store, shard, token).await;
            return Outcome::Lost;
        }
        let sent = Instant::now();
        return match store.renew_lease(shard, me, token, LEASE_TTL).await {
            Ok(true) => {
                let until = acting_until(sent, LEASE_TTL, LEASE_MARGIN);
                ownership.set(shard, Holder::Me { token, until });
                Outcome::Kept
            }
            Ok(false) => {
                warn!(
                    shard,
                    token, "a shard lease expired before it was renewed; giving it up"
                );
                cluster.children.stop_shard(shard).await;
                ownership.set(shard, Holder::Nobody);
                Outcome::Lost
            }
            // Lapses by itself unless a later renewal gets through.
            Err(err) => {
                warn!(shard, error = %err, "a shard lease was not renewed");
                Outcome::Kept
            }
        };
    }
    match seen.owner {
        Some(owner) => {
            cluster.orphans.note(shard, true);
            let holder = match nodes.iter().find(|n| n.id == owner) {
                Some(node) if owner != me => Holder::Other {
                    node: owner,
                    address: node.address.clone(),
                },
                // Its holder left the membership (its lease has yet to expire), or is this
                // node from before a renewal whose answer was lost: nobody to ask now.
                _ => Holder::Nobody,
            };
            ownership.set(shard, holder);
            Outcome::Other
        }
        None => {
            let beats = cluster.orphans.note(shard, false);
            ownership.set(shard, Holder::Nobody);
            if prefers != Some(me) && beats < ORPHAN_BEATS {
                return Outcome::Other;
            }
            let sent = Instant::now();
            match store.take_lease(&seen, me, LEASE_TTL).await {
                Ok(Some(token)) => {
                    let until = acting_until(sent, LEASE_TTL, LEASE_MARGIN);
                    ownership.set(shard, Holder::Me { token, until });
                    cluster.orphans.note(shard, true);
                    if seen.token.is_some() {
                        metrics::counter!(CLUSTER_TAKEOVERS, "what" => "lease").increment(1);
                    }
                    Outcome::Taken
                }
                Ok(None) => Outcome::Other,
                Err(err) => {
                    warn!(shard, error = %err, "a shard lease could not be taken");
                    Outcome::Other
                }
            }
        }
    }
}

/// Stops acting for `shard` (its actors stopped first, so nothing commits after), then gives
/// its lease up in the store so that another node can take it at once.
async fn give_up(cluster: &Cluster, store: &dyn ClusterStore, shard: u32, token: i64) {
    cluster.ctx.ownership.set(shard, Holder::Nobody);
    cluster.children.stop_shard(shard).await;
    if let Err(err) = store.release_lease(shard, cluster.id, token).await {
        warn!(shard, error = %err, "a shard lease was not given up; it expires by itself");
    }
}

/// Gives up every lease this node holds (it is leaving the cluster).
pub(super) async fn give_up_all(cluster: &Cluster, store: &dyn ClusterStore) {
    let mine = cluster.ctx.ownership.mine();
    let count = mine.len();
    join_all(
        mine.into_iter()
            .map(|(shard, token)| give_up(cluster, store, shard, token)),
    )
    .await;
    metrics::gauge!(CLUSTER_LEASES_HELD).set(0.0);
    info!(leases = count, "shard leases given up");
}

/// Starts a session actor for each live booking of the shards just taken: their timers run
/// here now, and deadlines that passed while the shard had no holder are applied.
async fn start_sessions(cluster: &Cluster, shards: &[u32]) {
    let live = match cluster.ctx.store.live_bookings().await {
        Ok(live) => live,
        Err(err) => {
            warn!(error = %err, "live bookings not read; their actors start on demand");
            return;
        }
    };
    let mut started = 0;
    for booking in live
        .into_iter()
        .filter(|b| shards.contains(&shard_of(b.id)))
    {
        match cluster.children.start(booking).await {
            Ok(_) => started += 1,
            Err(err) => warn!(error = %err, "a session actor did not start after a takeover"),
        }
    }
    info!(
        started,
        shards = shards.len(),
        "session actors started for the shards taken"
    );
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

    #[test]
    fn a_shard_waits_for_its_preferred_node_for_a_while_then_goes_to_anyone() {
        let orphans = Orphans::default();
        assert_eq!(orphans.note(3, false), 1);
        assert_eq!(orphans.note(3, false), ORPHAN_BEATS);
        assert_eq!(orphans.note(3, true), 0);
        assert_eq!(orphans.note(3, false), 1);
    }
}
