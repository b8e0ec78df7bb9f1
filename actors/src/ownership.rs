//! Which node acts for each booking (contract §8): bookings fall into [`SHARDS`] shards by
//! their id, and each shard is held by one node through a lease in the store (see
//! `cluster::leases`), whose token fences every commit the holder makes. This is the table a
//! node keeps of who holds what, read on every request; a node alone holds everything.

use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::ids::{BookingId, NodeId};

/// How many shards the bookings fall into: the unit a lease covers. Fixed: every node of a
/// keyspace must agree on it. A power of two below 256 (see [`Ownership::new_booking_id`]).
pub const SHARDS: u32 = 32;
const _: () = assert!(SHARDS.is_power_of_two() && SHARDS <= 256);

/// The shard of a booking: from the random bits of its id (the last bytes of a UUID v7).
pub fn shard_of(id: BookingId) -> u32 {
    let bytes = id.0.as_bytes();
    u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) % SHARDS
}

/// Who acts for a booking, as this node knows it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This node; in a cluster with the fencing token of its lease (`None` alone).
    Here { fence: Option<i64> },
    /// Another node, reached at its cluster address.
    There { node: NodeId, address: String },
    /// Nobody yet (a lease expired and is being taken over): ask again shortly.
    Nobody,
}

/// What this node knows of one shard's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// This node, with the lease's token, for as long as its last renewal lets it act.
    Me {
        token: i64,
        until: Instant,
    },
    Other {
        node: NodeId,
        address: String,
    },
    Nobody,
}

/// The holder of every shard, as this node last read or took them.
#[derive(Debug)]
pub struct Ownership {
    /// `None`: the node runs alone and holds every booking.
    shards: Option<RwLock<Vec<Holder>>>,
}

impl Ownership {
    /// A node alone: it acts for every booking, with nothing to fence.
    pub fn alone() -> Self {
        Ownership { shards: None }
    }

    /// A node of a cluster: it holds nothing until it takes leases.
    pub fn clustered() -> Self {
        Ownership {
            shards: Some(RwLock::new(vec![Holder::Nobody; SHARDS as usize])),
        }
    }

    pub fn is_clustered(&self) -> bool {
        self.shards.is_some()
    }

    /// Who acts for `booking` now. A lease of this node whose renewal is overdue counts as
    /// nobody's: the node stops acting before another may take it over.
    pub fn owner(&self, booking: BookingId) -> Owner {
        let Some(shards) = &self.shards else {
            return Owner::Here { fence: None };
        };
        let holder = match shards.read() {
            Ok(shards) => shards[shard_of(booking) as usize].clone(),
            Err(poisoned) => poisoned.into_inner()[shard_of(booking) as usize].clone(),
        };
        match holder {
            Holder::Me { token, until } if Instant::now() < until => {
                Owner::Here { fence: Some(token) }
            }
            Holder::Me { .. } | Holder::Nobody => Owner::Nobody,
            Holder::Other { node, address } => Owner::There { node, address },
        }
    }

    /// An id for a new booking, in a shard this node holds when it holds any: the node that
    /// makes a booking then acts for it, so the booking's next requests need no hand-over
    /// when they come back to it (a kiosk, a load balancer keeping connections), and its
    /// streams' seqs are taken by one node. A new id (UUID v7) whose random low bits, the ones
    /// that pick the shard, are set to one of this node's shards, picked at random.
    pub fn new_booking_id(&self) -> BookingId {
        let id = BookingId::new();
        let held: Vec<u32> = self
            .mine()
            .into_iter()
            .filter(|(shard, _)| self.holds_shard(*shard))
            .map(|(shard, _)| shard)
            .collect();
        let mut bytes = *id.0.as_bytes();
        let Some(shard) = held.get(usize::from(bytes[14]) % held.len().max(1)) else {
            return id;
        };
        // `SHARDS` divides 256: the shard is the low bits of the last byte.
        let mask = (SHARDS - 1) as u8;
        bytes[15] = (bytes[15] & !mask) | (*shard as u8 & mask);
        BookingId(uuid::Uuid::from_bytes(bytes))
    }

    /// Whether this node's lease of `shard` lets it act now.
    fn holds_shard(&self, shard: u32) -> bool {
        matches!(self.holder(shard), Holder::Me { until, .. } if Instant::now() < until)
    }

    /// Whether this node acts for `booking` under the lease `fence` it was started with.
    pub fn holds(&self, booking: BookingId, fence: Option<i64>) -> bool {
        self.owner(booking) == Owner::Here { fence }
    }

    /// The holder of `shard` as this node knows it.
    pub fn holder(&self, shard: u32) -> Holder {
        self.shards
            .as_ref()
            .and_then(|shards| match shards.read() {
                Ok(shards) => shards.get(shard as usize).cloned(),
                Err(poisoned) => poisoned.into_inner().get(shard as usize).cloned(),
            })
            .unwrap_or(Holder::Nobody)
    }

    /// Records who holds `shard`.
    pub fn set(&self, shard: u32, holder: Holder) {
        let Some(shards) = &self.shards else {
            return;
        };
        let mut shards = match shards.write() {
            Ok(shards) => shards,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(slot) = shards.get_mut(shard as usize) {
            *slot = holder;
        }
    }

    /// The shards this node holds a lease of (valid or overdue), with their tokens.
    pub fn mine(&self) -> Vec<(u32, i64)> {
        let Some(shards) = &self.shards else {
            return vec![];
        };
        let shards = match shards.read() {
            Ok(shards) => shards,
            Err(poisoned) => poisoned.into_inner(),
        };
        shards
            .iter()
            .enumerate()
            .filter_map(|(shard, holder)| match holder {
                Holder::Me { token, .. } => Some((shard as u32, *token)),
                _ => None,
            })
            .collect()
    }
}

/// Until when a lease renewed (or taken) at `sent` lets its holder act: its TTL, less a
/// margin for the store's clock running ahead of this node's, so that the holder stops
/// before the store lets another node take the lease.
pub fn acting_until(sent: Instant, ttl: Duration, margin: Duration) -> Instant {
    sent + ttl.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_bookings_evenly() {
        let mut counts = vec![0u32; SHARDS as usize];
        for _ in 0..32_000 {
            counts[shard_of(BookingId::new()) as usize] += 1;
        }
        for count in counts {
            assert!((700..1300).contains(&count), "{count}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_owner_of_a_booking_follows_its_shards_holder() {
        let booking = BookingId::new();
        let shard = shard_of(booking);
        let other = NodeId::new();
        let table = [
            (Holder::Nobody, Owner::Nobody),
            (
                Holder::Me {
                    token: 7,
                    until: Instant::now() + Duration::from_secs(1),
                },
                Owner::Here { fence: Some(7) },
            ),
            (
                Holder::Me {
                    token: 7,
                    until: Instant::now(),
                },
                Owner::Nobody,
            ),
            (
                Holder::Other {
                    node: other,
                    address: "10.0.0.2:7443".into(),
                },
                Owner::There {
                    node: other,
                    address: "10.0.0.2:7443".into(),
                },
            ),
        ];
        let ownership = Ownership::clustered();
        for (holder, owner) in table {
            ownership.set(shard, holder.clone());
            assert_eq!(ownership.owner(booking), owner, "{holder:?}");
        }
        assert_eq!(
            Ownership::alone().owner(booking),
            Owner::Here { fence: None }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_booking_falls_in_a_shard_its_node_holds() {
        let ownership = Ownership::clustered();
        let until = Instant::now() + Duration::from_secs(60);
        ownership.set(5, Holder::Me { token: 1, until });
        for _ in 0..100 {
            let id = ownership.new_booking_id();
            assert_eq!(shard_of(id), 5);
            assert_eq!(id.0.get_version_num(), 7, "still a time-ordered id");
        }
        ownership.set(9, Holder::Me { token: 1, until });
        let shards: std::collections::HashSet<u32> = (0..100)
            .map(|_| shard_of(ownership.new_booking_id()))
            .collect();
        assert_eq!(shards, [5, 9].into(), "spread over the shards held");
        ownership.set(5, Holder::Nobody);
        // Holding nothing, any id will do.
        ownership.new_booking_id();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_stops_letting_its_holder_act_when_its_renewal_is_overdue() {
        let booking = BookingId::new();
        let ownership = Ownership::clustered();
        let until = acting_until(
            Instant::now(),
            Duration::from_secs(8),
            Duration::from_secs(2),
        );
        ownership.set(shard_of(booking), Holder::Me { token: 3, until });
        assert!(ownership.holds(booking, Some(3)));
        assert!(!ownership.holds(booking, Some(2)), "an older lease's token");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(!ownership.holds(booking, Some(3)));
        assert_eq!(ownership.mine(), vec![(shard_of(booking), 3)]);
    }
}
