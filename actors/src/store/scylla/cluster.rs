//! What the nodes of a cluster share through the keyspace (contract §8): the membership rows
//! and the fan-out log (`schema/cql/005_cluster.cql`).

use std::time::Duration;

use async_trait::async_trait;

use super::cql::{self, bigint, int, text, ts};
use super::{ScyllaStore, bucket, from_json};
use crate::domain::ids::{BoothId, NodeId};
use crate::domain::records::NodeInfo;
use crate::store::{Announced, ClusterStore, Fanned, ShardLease, StoreError};

/// The one partition of `nodes`.
const SHARD: i32 = 0;

/// A TTL in whole seconds, as CQL takes it.
fn ttl_secs(ttl: Duration) -> i32 {
    i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX)
}

fn shard_value(shard: u32) -> scylla::value::CqlValue {
    int(i32::try_from(shard).unwrap_or(i32::MAX))
}

fn parse<T: std::str::FromStr>(value: Option<String>, what: &str) -> Result<T, StoreError> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("a stored {what} does not parse")))
}

#[async_trait]
impl ClusterStore for ScyllaStore {
    fn fan_out_as(&self, origin: NodeId) {
        let _ = self.origin.set(origin);
    }

    async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> Result<(), StoreError> {
        let ttl = ttl_secs(ttl);
        self.cql
            .exec(
                "INSERT INTO {ks}.nodes (shard, id, address, started_at, last_seen_at, connections, sessions) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?",
                vec![
                    int(SHARD),
                    text(node.id.to_string()),
                    text(&node.address),
                    ts(node.started_at),
                    ts(node.last_seen_at),
                    bigint(i64::try_from(node.connections).unwrap_or(i64::MAX)),
                    bigint(i64::try_from(node.sessions).unwrap_or(i64::MAX)),
                    int(ttl),
                ],
            )
            .await
    }

    async fn leave(&self, node: NodeId) -> Result<(), StoreError> {
        self.cql
            .exec(
                "DELETE FROM {ks}.nodes WHERE shard = ? AND id = ?",
                vec![int(SHARD), text(node.to_string())],
            )
            .await
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT id, address, started_at, last_seen_at, connections, sessions FROM {ks}.nodes WHERE shard = ?",
                vec![int(SHARD)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let count = |i| cql::col_bigint(row, i).unwrap_or(0).max(0) as u64;
                Ok(NodeInfo {
                    id: parse(cql::col_text(row, 0), "node id")?,
                    address: cql::col_text(row, 1).unwrap_or_default(),
                    started_at: cql::col_ts(row, 2)
                        .ok_or_else(|| StoreError::Corrupt("a node with no start".into()))?,
                    last_seen_at: cql::col_ts(row, 3)
                        .ok_or_else(|| StoreError::Corrupt("a node never seen".into()))?,
                    connections: count(4),
                    sessions: count(5),
                })
            })
            .collect()
    }

    async fn nodes_with_booths(&self) -> Result<Vec<NodeId>, StoreError> {
        let rows = self
            .cql
            .rows("SELECT DISTINCT node FROM {ks}.booths_by_node", vec![])
            .await?;
        rows.iter()
            .map(|row| parse(cql::col_text(row, 0), "node id"))
            .collect()
    }

    async fn booths_of(&self, node: NodeId) -> Result<Vec<BoothId>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT booth_id FROM {ks}.booths_by_node WHERE node = ?",
                vec![text(node.to_string())],
            )
            .await?;
        rows.iter()
            .map(|row| parse(cql::col_text(row, 0), "booth id"))
            .collect()
    }

    async fn take_booth(
        &self,
        booth: BoothId,
        from: NodeId,
        to: NodeId,
    ) -> Result<bool, StoreError> {
        self.cql
            .lwt(
                "UPDATE {ks}.booth_node SET node = ? WHERE booth_id = ? IF node IN (?, ?)",
                vec![
                    text(to.to_string()),
                    text(booth.to_string()),
                    text(from.to_string()),
                    text(to.to_string()),
                ],
            )
            .await
    }

    async fn forget_booths_of(&self, node: NodeId) -> Result<(), StoreError> {
        self.cql
            .exec(
                "DELETE FROM {ks}.booths_by_node WHERE node = ?",
                vec![text(node.to_string())],
            )
            .await
    }

    async fn leases(&self) -> Result<Vec<ShardLease>, StoreError> {
        // By key: a scan of the whole table would visit every token range of the cluster.
        let shards = (0..crate::ownership::SHARDS).map(shard_value).collect();
        let rows = self
            .cql
            .rows(
                "SELECT shard, owner, epoch FROM {ks}.shard_leases WHERE shard IN ?",
                vec![scylla::value::CqlValue::List(shards)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let shard = match row.columns.first() {
                    Some(Some(scylla::value::CqlValue::Int(shard))) => u32::try_from(*shard).ok(),
                    _ => None,
                };
                Ok(ShardLease {
                    shard: shard
                        .ok_or_else(|| StoreError::Corrupt("a lease with no shard".into()))?,
                    owner: match cql::col_text(row, 1) {
                        Some(owner) => Some(parse(Some(owner), "lease owner")?),
                        None => None,
                    },
                    token: cql::col_bigint(row, 2),
                })
            })
            .collect()
    }

    async fn take_lease(
        &self,
        seen: &ShardLease,
        node: NodeId,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let next = seen.token.unwrap_or(0) + 1;
        let owner = match seen.token {
            Some(token) => (
                "UPDATE {ks}.shard_leases USING TTL ? SET owner = ? WHERE shard = ? IF owner = null AND epoch = ?",
                vec![
                    int(ttl_secs(ttl)),
                    text(node.to_string()),
                    shard_value(seen.shard),
                    bigint(token),
                ],
            ),
            None => (
                "UPDATE {ks}.shard_leases USING TTL ? SET owner = ? WHERE shard = ? IF owner = null AND epoch = null",
                vec![
                    int(ttl_secs(ttl)),
                    text(node.to_string()),
                    shard_value(seen.shard),
                ],
            ),
        };
        // The token outlives the owner's TTL: the next node to take the shard counts on.
        let token = (
            "UPDATE {ks}.shard_leases SET epoch = ? WHERE shard = ?",
            vec![bigint(next), shard_value(seen.shard)],
        );
        let taken = self.cql.conditional_batch(vec![owner, token]).await?;
        Ok(taken.then_some(next))
    }

    async fn renew_lease(
        &self,
        shard: u32,
        node: NodeId,
        token: i64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.cql
            .lwt(
                "UPDATE {ks}.shard_leases USING TTL ? SET owner = ? WHERE shard = ? IF owner = ? AND epoch = ?",
                vec![
                    int(ttl_secs(ttl)),
                    text(node.to_string()),
                    shard_value(shard),
                    text(node.to_string()),
                    bigint(token),
                ],
            )
            .await
    }

    async fn release_lease(
        &self,
        shard: u32,
        node: NodeId,
        token: i64,
    ) -> Result<bool, StoreError> {
        self.cql
            .lwt(
                "UPDATE {ks}.shard_leases SET owner = null WHERE shard = ? IF owner = ? AND epoch = ?",
                vec![shard_value(shard), text(node.to_string()), bigint(token)],
            )
            .await
    }

    async fn place_left_behind(&self) -> Result<usize, StoreError> {
        ScyllaStore::place_left_behind(self).await
    }

    async fn announce(&self, announced: &Announced) -> Result<(), StoreError> {
        self.cql
            .exec(
                "INSERT INTO {ks}.revocations (shard, at, id, origin, doc) VALUES (?, ?, ?, ?, ?)",
                vec![
                    int(SHARD),
                    ts(announced.at),
                    text(&announced.id),
                    text(announced.origin.to_string()),
                    text(super::to_json(&announced.revocation)?),
                ],
            )
            .await
    }

    async fn revocations_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Announced>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT at, id, origin, doc FROM {ks}.revocations WHERE shard = ? AND at >= ?",
                vec![int(SHARD), ts(since)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Announced {
                    at: cql::col_ts(row, 0)
                        .ok_or_else(|| StoreError::Corrupt("a revocation with no time".into()))?,
                    id: cql::col_text(row, 1).unwrap_or_default(),
                    origin: parse(cql::col_text(row, 2), "revocation origin")?,
                    revocation: from_json(&cql::col_text(row, 3).unwrap_or_default())?,
                })
            })
            .collect()
    }

    async fn fanned_from(
        &self,
        from: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<Fanned>, StoreError> {
        let mut fanned = vec![];
        let mut at = from;
        while at <= upto && fanned.len() < limit as usize {
            let rows = self
                .cql
                .rows(
                    "SELECT seq, origin, events FROM {ks}.fanout WHERE bucket = ? AND seq >= ? AND seq <= ? LIMIT ?",
                    vec![
                        bigint(bucket(at)),
                        bigint(at as i64),
                        bigint(i64::try_from(upto).unwrap_or(i64::MAX)),
                        int(i32::try_from(limit).unwrap_or(i32::MAX)),
                    ],
                )
                .await?;
            for row in &rows {
                if fanned.len() >= limit as usize {
                    break;
                }
                let seq = cql::col_bigint(row, 0)
                    .ok_or_else(|| StoreError::Corrupt("a fan-out row with no seq".into()))?;
                fanned.push(Fanned {
                    seq: seq as u64,
                    origin: parse(cql::col_text(row, 1), "fan-out origin")?,
                    events: from_json(&cql::col_text(row, 2).unwrap_or_default())?,
                });
            }
            at = (at / super::EVENT_BUCKET + 1) * super::EVENT_BUCKET;
        }
        Ok(fanned)
    }
}
