//! The ScyllaDB backend (also runs on Apache Cassandra 5), for operators who outgrow one
//! machine. Same behaviour as the embedded store behind the same trait; the design choices
//! (LWT where compare-and-set is needed, logged batches for atomicity, consistency levels)
//! are in `schema/README.md`.

mod cluster;
mod cql;
mod scope;
mod versions;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use scylla::value::CqlValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::cql::{Cql, bigint, blob, int, text, ts};
use self::scope::Scope;
use self::versions::Decision;
use super::{
    AuditFilter, BookingFilter, BookingWrite, Change, DeadLetterFilter, Page, PageRequest,
    PaymentFilter, Presence, Store, StoreError,
};
use crate::domain::booking::{Booking, SlotClaim};
use crate::domain::config::SystemConfig;
use crate::domain::event::{StoredEvent, Stream};
use crate::domain::ids::{BookingId, BoothId, NodeId, OutletId, PaymentId, UserId};
use crate::domain::payment::Payment;
use crate::domain::records::{AuditEntry, Booth, DeadLetter, Outlet, Role, User};
use crate::metrics::{STORE_SEQ_CONFLICTS, STORE_SEQ_TIMEOUTS};

/// The schema files, in order; `meta.schema_version` says how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../schema/cql/001_init.cql"),
    include_str!("../../../../schema/cql/002_booking_events.cql"),
    include_str!("../../../../schema/cql/003_offboarding.cql"),
    include_str!("../../../../schema/cql/004_payment_ids.cql"),
    include_str!("../../../../schema/cql/005_cluster.cql"),
    include_str!("../../../../schema/cql/006_booking_versions.cql"),
    include_str!("../../../../schema/cql/007_booth_nodes.cql"),
    include_str!("../../../../schema/cql/008_leases.cql"),
];
/// The schema version that finds payments by id: the payments before it are indexed then.
const PAYMENT_IDS_VERSION: usize = 4;
/// The schema version that indexes logins by user: logins made before it are copied in.
const LOGINS_BY_USER_VERSION: usize = 3;

/// Seqs a partition of the event log holds.
const EVENT_BUCKET: u64 = 1000;
/// How long a commit may wait to take the seqs of one stream (its turn behind this node's
/// other writers, and its compare-and-sets against other nodes'), before it answers 503.
const SEQ_DEADLINE: Duration = Duration::from_secs(2);
/// How long a slot lease lives if its holder dies.
const LEASE_TTL_SECONDS: i32 = 10;
/// A decided booking change not placed after this long was left by a node that died between
/// its decision and its batch: the timekeeper places it. Longer than a placement can take
/// (its seqs within 2 s, its batch within the 5 s request timeout), so that the timekeeper
/// does not place a change its own node is still placing.
const PLACE_GRACE_MICROS: i64 = 8_000_000;
/// How long a change waits for the version it is decided on to be placed (by its node, or by
/// the timekeeper after [`PLACE_GRACE_MICROS`]) before it answers 503.
const PLACE_WAIT: Duration = Duration::from_secs(12);
/// How long a writer waits for a slot lease another holds before it answers 503.
const LEASE_WAIT: Duration = Duration::from_secs(3);
/// How many times (about 2 s with backoff) the loser of a payment claim looks for the winner's
/// payment before it answers that the event id is busy.
const PAYMENT_CLAIM_ATTEMPTS: usize = 25;
/// A payment claim this old with no payment stored was left by a writer that died between its
/// claim and its batch. Far beyond the 5 s request timeout, so that its batch, had it been
/// sent, has applied (or been replayed from the batch log) by then.
const PAYMENT_CLAIM_STALE: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug)]
pub struct ScyllaStore {
    cql: Cql,
    /// The last seq this node gave out on each stream. Allocation on a stream is queued here,
    /// so the node's writers take turns instead of contending in Paxos; the compare-and-set
    /// still guards against other nodes (a miss re-reads the head).
    heads: dashmap::DashMap<Stream, Arc<tokio::sync::Mutex<Option<i64>>>>,
    /// A booth's record is read, changed and written whole (presence, renames, deactivation):
    /// the writers of one booth on this node take turns here, so that none writes back an
    /// older record over another's change. Across nodes they do not (`docs/CLUSTER.md`).
    booth_writes: dashmap::DashMap<BoothId, Arc<tokio::sync::Mutex<()>>>,
    /// This node's writers waiting for one slot lease take turns here, so that at most one
    /// per node competes for it in Paxos (50 bookings a second on one outlet would otherwise
    /// poll its lease by the hundred).
    lease_turns: dashmap::DashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Set on a node of a cluster: each change is also written to the fan-out log as its.
    origin: std::sync::OnceLock<NodeId>,
}

/// Where to connect and what to create.
#[derive(Clone, Debug)]
pub struct ScyllaSettings {
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// The replication map of the keyspace, e.g. `{'class': 'SimpleStrategy', 'replication_factor': 3}`.
    pub replication: String,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn month(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

fn bucket(seq: u64) -> i64 {
    (seq / EVENT_BUCKET) as i64
}

fn encode_cursor(at: DateTime<Utc>, id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{id}", at.timestamp_millis()))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), StoreError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let (millis, id) = text.split_once('|').ok_or(StoreError::BadCursor)?;
    let millis = millis.parse::<i64>().map_err(|_| StoreError::BadCursor)?;
    let at = DateTime::from_timestamp_millis(millis).ok_or(StoreError::BadCursor)?;
    Ok((at, id.to_owned()))
}

/// A booking change decided on a version, kept in its version row until placed: everything
/// its placement writes, so that any node can place it.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Decided {
    booking: Booking,
    payment: Option<Payment>,
    audit: Option<AuditEntry>,
    /// Its events; their seqs are taken after the decision and recorded beside it.
    events: Vec<crate::domain::event::Event>,
    origin: Option<NodeId>,
}

/// Now, in µs since the epoch: the timestamp of a change's writes.
fn now_micros() -> i64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "write timestamps count on the wall clock, as the CQL server's do"
    )]
    let now = chrono::Utc::now();
    now.timestamp_micros()
}

/// One row of a listing: when, and the id of the record.
struct Entry {
    at: DateTime<Utc>,
    id: String,
}

impl ScyllaStore {
    /// Connects, creates or migrates the schema, and refuses a schema newer than this build.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        Self::connect_at(settings, MIGRATIONS.len()).await
    }

    /// Connects to a keyspace as it is, changing nothing (for read-only tools such as
    /// `boothhub cluster status`).
    pub async fn connect_as_is(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        Ok(ScyllaStore {
            cql: Cql::connect(&settings.nodes, &settings.keyspace).await?,
            heads: dashmap::DashMap::new(),
            booth_writes: dashmap::DashMap::new(),
            lease_turns: dashmap::DashMap::new(),
            origin: std::sync::OnceLock::new(),
        })
    }

    /// Connects with the schema files up to `version` applied (tests of a migration start a
    /// keyspace as an older hub left it).
    async fn connect_at(settings: &ScyllaSettings, version: usize) -> Result<Self, StoreError> {
        let store = Self::connect_as_is(settings).await?;
        store.migrate(&settings.replication, version).await?;
        Ok(store)
    }

    async fn migrate(&self, replication: &str, upto: usize) -> Result<(), StoreError> {
        let ks = self.cql.keyspace();
        self.cql
            .ddl(&format!(
                "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}"
            ))
            .await?;
        self.cql
            .ddl(&format!(
                "CREATE TABLE IF NOT EXISTS {ks}.meta (key text PRIMARY KEY, value text)"
            ))
            .await?;
        let rows = self
            .cql
            .rows(
                "SELECT value FROM {ks}.meta WHERE key = 'schema_version'",
                vec![],
            )
            .await?;
        let version: usize = rows
            .first()
            .and_then(|r| cql::col_text(r, 0))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Unavailable(format!(
                "keyspace {ks} has schema version {version}, newer than this Booth Hub knows ({}); \
                 run a newer boothhub",
                MIGRATIONS.len()
            )));
        }
        for (index, file) in MIGRATIONS.iter().enumerate().take(upto).skip(version) {
            for statement in statements(file) {
                match self.cql.ddl(&statement.replace("{ks}", ks)).await {
                    // A column added by a run of this file that stopped before recording it.
                    Err(StoreError::Unavailable(err))
                        if statement.starts_with("ALTER TABLE")
                            && err.contains("already exists") => {}
                    other => other?,
                }
            }
            if index + 1 == LOGINS_BY_USER_VERSION {
                self.index_logins_by_user().await?;
            }
            if index + 1 == PAYMENT_IDS_VERSION {
                self.index_payment_ids().await?;
            }
            self.cql
                .exec(
                    "INSERT INTO {ks}.meta (key, value) VALUES ('schema_version', ?)",
                    vec![text((index + 1).to_string())],
                )
                .await?;
        }
        Ok(())
    }

    /// Copies the logins made before they were indexed by user into `logins_by_user`.
    async fn index_logins_by_user(&self) -> Result<(), StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT token_hash, user_id, expires_at FROM {ks}.login_tokens",
                vec![],
            )
            .await?;
        for row in &rows {
            let (Some(hash), Some(user), Some(expires)) = (
                cql::col_text(row, 0),
                cql::col_text(row, 1),
                cql::col_ts(row, 2),
            ) else {
                continue;
            };
            self.cql
                .exec(
                    "INSERT INTO {ks}.logins_by_user (user_id, token_hash, expires_at) VALUES (?, ?, ?) USING TTL 31622400",
                    vec![text(user), text(hash), ts(expires)],
                )
                .await?;
        }
        Ok(())
    }

    /// Gives every stored payment its row in `payment_ids`.
    async fn index_payment_ids(&self) -> Result<(), StoreError> {
        let rows = self
            .cql
            .rows("SELECT event_id FROM {ks}.payments", vec![])
            .await?;
        for event_id in rows.iter().filter_map(|r| cql::col_text(r, 0)) {
            self.cql
                .exec(
                    "INSERT INTO {ks}.payment_ids (id, event_id) VALUES (?, ?)",
                    vec![
                        text(PaymentId::of_event(&event_id).to_string()),
                        text(event_id),
                    ],
                )
                .await?;
        }
        Ok(())
    }

    async fn doc<T: DeserializeOwned>(
        &self,
        cql: &'static str,
        key: CqlValue,
    ) -> Result<Option<T>, StoreError> {
        let rows = self.cql.rows(cql, vec![key]).await?;
        rows.first()
            .and_then(|r| cql::col_text(r, 0))
            .map(|doc| from_json(&doc))
            .transpose()
    }

    /// Takes a short lease on `name`; waits (with backoff) while another holder has it, until
    /// `deadline` (a holder that died leaves it taken until its TTL runs out).
    async fn lease(
        &self,
        name: &str,
        deadline: tokio::time::Instant,
    ) -> Result<String, StoreError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let mut wait = Duration::from_millis(2);
        while tokio::time::Instant::now() < deadline {
            let applied = self
                .cql
                .lwt(
                    "INSERT INTO {ks}.locks (name, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?",
                    vec![text(name), text(&owner), int(LEASE_TTL_SECONDS)],
                )
                .await?;
            if applied {
                return Ok(owner);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(100));
        }
        Err(StoreError::Unavailable(format!(
            "the lease {name} stayed taken"
        )))
    }

    async fn release(&self, name: &str, owner: &str) {
        let _ = self
            .cql
            .lwt(
                "DELETE FROM {ks}.locks WHERE name = ? IF owner = ?",
                vec![text(name), text(owner)],
            )
            .await;
    }

    async fn check_slot(&self, claim: &SlotClaim, booking: &Booking) -> Result<(), StoreError> {
        let existing = self
            .cql
            .rows(
                "SELECT id FROM {ks}.bookings WHERE id = ?",
                vec![text(booking.id.to_string())],
            )
            .await?;
        if !existing.is_empty() {
            return Err(StoreError::Duplicate("booking"));
        }
        self.check_capacity(claim).await
    }

    /// Whether the live bookings overlapping the claimed slot leave room for one more.
    async fn check_capacity(&self, claim: &SlotClaim) -> Result<(), StoreError> {
        let scope = match claim.booth_id {
            Some(booth) => Scope::Booth(booth),
            None => Scope::Outlet(claim.outlet_id),
        };
        let earliest = claim.slot.start - claim.duration;
        let taken = self
            .cql
            .rows(
                "SELECT id FROM {ks}.live_bookings WHERE scope = ? AND booking_time > ? AND booking_time < ?",
                vec![text(scope.to_string()), ts(earliest), ts(claim.slot.end)],
            )
            .await?
            .len() as u64;
        if taken < claim.capacity {
            Ok(())
        } else {
            Err(StoreError::SlotTaken)
        }
    }

    /// Takes the next `count` seqs of `stream` in one compare-and-set on its head, from the
    /// last seq this node gave out (read at SERIAL when unknown or when another node moved
    /// it); gives the first. Bounded: past `deadline` (its turn, its reads and its
    /// compare-and-sets together) the writer gets [`StoreError::Unavailable`] (a 503), so a
    /// contended stream (every event is also on `all`) never holds a request for long.
    async fn take_seqs(
        &self,
        stream: Stream,
        count: u64,
        deadline: tokio::time::Instant,
    ) -> Result<u64, StoreError> {
        let busy = || {
            metrics::counter!(STORE_SEQ_TIMEOUTS).increment(1);
            StoreError::Unavailable(format!("no seq could be taken on {stream} in time"))
        };
        let cell = Arc::clone(&*self.heads.entry(stream).or_default());
        let name = stream.to_string();
        let mut cached = tokio::time::timeout_at(deadline, cell.lock())
            .await
            .map_err(|_| busy())?;
        let mut backoff = Duration::from_millis(1);
        let wanted = i64::try_from(count).unwrap_or(i64::MAX);
        loop {
            let attempt = async {
                let expected = match *cached {
                    Some(seq) => Some(seq),
                    None => self
                        .cql
                        .serial_rows(
                            "SELECT seq FROM {ks}.stream_heads WHERE stream = ?",
                            vec![text(&name)],
                        )
                        .await?
                        .first()
                        .and_then(|r| cql::col_bigint(r, 0)),
                };
                Ok::<_, StoreError>(match expected {
                    None => self
                        .cql
                        .lwt(
                            "INSERT INTO {ks}.stream_heads (stream, seq) VALUES (?, ?) IF NOT EXISTS",
                            vec![text(&name), bigint(wanted)],
                        )
                        .await?
                        .then_some(wanted),
                    Some(seq) => self
                        .cql
                        .lwt(
                            "UPDATE {ks}.stream_heads SET seq = ? WHERE stream = ? IF seq = ?",
                            vec![bigint(seq + wanted), text(&name), bigint(seq)],
                        )
                        .await?
                        .then_some(seq + wanted),
                })
            };
            let applied = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(applied)) => applied,
                Ok(Err(err)) => {
                    // The compare-and-set may have applied: read the head again next time.
                    *cached = None;
                    return Err(err);
                }
                Err(_) => {
                    *cached = None;
                    return Err(busy());
                }
            };
            *cached = applied;
            if let Some(last) = applied {
                return Ok((last - wanted + 1) as u64);
            }
            // Another node moved the head: back off (with jitter, so that contending nodes
            // spread out in Paxos) and compare again from a fresh read.
            metrics::counter!(STORE_SEQ_CONFLICTS).increment(1);
            let pause = backoff.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..1.5));
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(busy());
            }
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    fn timeline(
        batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
        kind: &str,
        scopes: &[Scope],
        at: DateTime<Utc>,
        id: &str,
    ) {
        for scope in scopes.iter().map(Scope::to_string) {
            batch.push((
                "INSERT INTO {ks}.timeline (kind, scope, month, at, id) VALUES (?, ?, ?, ?, ?)",
                vec![text(kind), text(&scope), text(month(at)), ts(at), text(id)],
            ));
            batch.push((
                "INSERT INTO {ks}.timeline_months (kind, scope, month) VALUES (?, ?, ?)",
                vec![text(kind), text(scope), text(month(at))],
            ));
        }
    }

    /// The rows of an audit entry, in the batch of the change it records.
    fn audit_rows(
        batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let Some(audit) = audit else {
            return Ok(());
        };
        let id = audit.id.to_string();
        batch.push((
            "INSERT INTO {ks}.audit (id, doc) VALUES (?, ?)",
            vec![text(&id), text(to_json(audit)?)],
        ));
        let mut scopes = vec![Scope::All];
        scopes.extend(audit.outlet_id.map(Scope::Outlet));
        scopes.extend(audit.booking_id.map(Scope::Booking));
        Self::timeline(batch, "audit", &scopes, audit.at, &id);
        Ok(())
    }

    fn booking_rows(
        batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
        booking: &Booking,
        created: bool,
    ) -> Result<(), StoreError> {
        let id = booking.id.to_string();
        batch.push((
            "INSERT INTO {ks}.bookings (id, doc) VALUES (?, ?)",
            vec![text(&id), text(to_json(booking)?)],
        ));
        if created {
            let scopes = Scope::of_outlet(booking.outlet_id);
            Self::timeline(batch, "booking", &scopes, booking.booking_time, &id);
        }
        let mut scopes = Scope::of_outlet(booking.outlet_id).to_vec();
        scopes.extend(booking.booth_id.map(Scope::Booth));
        for scope in scopes {
            let key = vec![text(scope.to_string()), ts(booking.booking_time), text(&id)];
            if booking.status.is_live() {
                batch.push((
                    "INSERT INTO {ks}.live_bookings (scope, booking_time, id) VALUES (?, ?, ?)",
                    key,
                ));
            } else {
                batch.push(("DELETE FROM {ks}.live_bookings WHERE scope = ? AND booking_time = ? AND id = ?", key));
            }
        }
        Ok(())
    }

    async fn presence_rows(
        &self,
        batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
        presence: &Presence,
    ) -> Result<(), StoreError> {
        let id = presence.booth_id.to_string();
        let Some(mut booth) = self.booth(presence.booth_id).await? else {
            return Err(StoreError::NotFound("booth"));
        };
        booth.online = presence.online;
        booth.last_seen_at = Some(presence.at);
        batch.push((
            "INSERT INTO {ks}.directory (kind, id, doc) VALUES ('booth', ?, ?)",
            vec![text(&id), text(to_json(&booth)?)],
        ));
        if presence.online {
            batch.push((
                "INSERT INTO {ks}.booths_online (shard, id) VALUES (0, ?)",
                vec![text(&id)],
            ));
        } else {
            batch.push((
                "DELETE FROM {ks}.booths_online WHERE shard = 0 AND id = ?",
                vec![text(&id)],
            ));
        }
        if let Some(origin) = self.origin.get() {
            let node = origin.to_string();
            if presence.online {
                batch.push((
                    "INSERT INTO {ks}.booths_by_node (node, booth_id) VALUES (?, ?)",
                    vec![text(&node), text(&id)],
                ));
                batch.push((
                    "INSERT INTO {ks}.booth_node (booth_id, node) VALUES (?, ?)",
                    vec![text(&id), text(&node)],
                ));
            } else {
                batch.push((
                    "DELETE FROM {ks}.booths_by_node WHERE node = ? AND booth_id = ?",
                    vec![text(&node), text(&id)],
                ));
            }
        }
        Ok(())
    }

    /// The node that last recorded `booth` online, in a cluster.
    async fn booth_holder(&self, booth: BoothId) -> Result<Option<NodeId>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT node FROM {ks}.booth_node WHERE booth_id = ?",
                vec![text(booth.to_string())],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| cql::col_text(r, 0))
            .and_then(|node| node.parse().ok()))
    }

    /// The turn of one booth's record writers (see `booth_writes`).
    async fn booth_turn(&self, booth: BoothId) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = Arc::clone(&*self.booth_writes.entry(booth).or_default());
        turn.lock_owned().await
    }

    async fn commit_locked(&self, change: Change) -> Result<Vec<StoredEvent>, StoreError> {
        if matches!(
            change.booking,
            Some(BookingWrite::Update(_) | BookingWrite::Reclaim(..))
        ) {
            return self.commit_fenced(change).await;
        }
        let micros = now_micros();
        let created = matches!(change.booking, Some(BookingWrite::Create(..)));
        let _booth_turn = match &change.presence {
            Some(presence) => Some(self.booth_turn(presence.booth_id).await),
            None => None,
        };
        let mut batch: Vec<(&'static str, Vec<CqlValue>)> = vec![];
        match &change.booking {
            Some(BookingWrite::Create(booking, claim)) => {
                self.check_slot(claim, booking).await?;
                // The head is only ever written by compare-and-set (Paxos orders its own
                // writes, not plain ones beside them).
                if !versions::begin(&self.cql, booking.id).await? {
                    return Err(StoreError::Duplicate("booking"));
                }
                Self::booking_rows(&mut batch, booking, true)?;
                batch.push(versions::created(booking.id, &to_json(booking)?, micros));
            }
            Some(BookingWrite::Update(_) | BookingWrite::Reclaim(..)) | None => {}
        }
        if let Some(payment) = &change.payment {
            Self::payment_rows(&mut batch, payment)?;
        }
        let mut refund_claim = None;
        if let Some(payment) = &change.refund {
            if self.payment(&payment.event_id).await?.is_none() {
                return Err(StoreError::NotFound("payment"));
            }
            // Once, across nodes: the refund claims the payment's event id (compare-and-set).
            let claimed = self
                .cql
                .lwt(
                    "INSERT INTO {ks}.unique_keys (kind, key, id) VALUES ('refund', ?, ?) IF NOT EXISTS",
                    vec![text(&payment.event_id), text(uuid::Uuid::new_v4().to_string())],
                )
                .await?;
            if !claimed {
                return Err(StoreError::NotFound("a payment not refunded yet"));
            }
            refund_claim = Some(payment.event_id.clone());
            batch.push((
                "INSERT INTO {ks}.payments (event_id, doc) VALUES (?, ?)",
                vec![text(&payment.event_id), text(to_json(payment)?)],
            ));
        }
        Self::audit_rows(&mut batch, change.audit.as_ref())?;
        if let Some(config) = &change.config {
            batch.push((
                "INSERT INTO {ks}.system_config (id, doc) VALUES (1, ?)",
                vec![text(to_json(config)?)],
            ));
        }
        if let Some(presence) = &change.presence {
            if let (false, Some(origin)) = (presence.online, self.origin.get()) {
                // A booth another node holds now (it reconnected there) stays online.
                let holder = self.booth_holder(presence.booth_id).await?;
                if holder.is_some_and(|holder| holder != *origin) {
                    return Err(StoreError::Conflict);
                }
            }
            self.presence_rows(&mut batch, presence).await?;
        }
        if let Some(letter) = &change.dead_letter {
            let id = letter.id.to_string();
            batch.push((
                "INSERT INTO {ks}.dead_letters (id, doc) VALUES (?, ?)",
                vec![text(&id), text(to_json(letter)?)],
            ));
            let scopes = [
                Scope::All,
                Scope::Outlet(letter.outlet_id),
                Scope::Booth(letter.booth_id),
            ];
            Self::timeline(&mut batch, "dead_letter", &scopes, letter.at, &id);
        }
        // The event id is claimed (compare-and-set) once every other check has passed and
        // before any seq is taken, so that a refused change leaves no gap in a stream.
        let claim = match &change.payment {
            Some(payment) => Some((payment, self.claim_payment(payment).await?)),
            None => None,
        };
        let stored = match self.take_seqs_of(change.events).await {
            Ok(stored) => stored,
            Err(err) => {
                if let Some((payment, token)) = claim {
                    // Nothing was written: the event id is free for a retry at once.
                    self.release_payment(&payment.event_id, &token).await;
                }
                return Err(err);
            }
        };
        Self::event_rows(&mut batch, &stored)?;
        if let Some(origin) = self.origin.get() {
            fan_out(&mut batch, *origin, &stored)?;
        }
        // Should the batch fail, the claim stays (a timed-out batch may still apply); a retry
        // takes it over once it is stale and the payment is still not stored.
        let written = if created {
            // A booking's rows carry its versions' timestamps from the start.
            self.cql.logged_batch_at(batch, micros).await
        } else if batch.is_empty() {
            Ok(())
        } else {
            self.cql.logged_batch(batch).await
        };
        if let Err(err) = written {
            if let Some(event_id) = refund_claim {
                // Not refunded (or, if the batch applied after all, its record says so and
                // the hub refuses a second refund from it).
                let _ = self
                    .cql
                    .exec(
                        "DELETE FROM {ks}.unique_keys WHERE kind = 'refund' AND key = ?",
                        vec![text(event_id)],
                    )
                    .await;
            }
            return Err(err);
        }
        Ok(stored)
    }

    /// Commits a change of an existing booking, fenced by its version (contract §8): the
    /// change is decided by a compare-and-set of the booking's version from the one it was
    /// decided on (`booking.version - 1`) that stores the change too; then its seqs are taken
    /// and recorded, then it is placed. Another change decided on that version first:
    /// nothing was taken, and [`StoreError::Conflict`] says to read the booking again. A node
    /// that dies between decision and placement leaves the change decided; the timekeeper
    /// places it (`place_left_behind`), and a change of the booking waits for that.
    async fn commit_fenced(&self, change: Change) -> Result<Vec<StoredEvent>, StoreError> {
        let Change {
            booking: Some(write),
            fence,
            payment,
            refund: None,
            audit,
            config: None,
            presence: None,
            dead_letter: None,
            events,
        } = change
        else {
            return Err(StoreError::Corrupt(
                "a booking change carries only a payment, an audit entry and events".into(),
            ));
        };
        let (booking, reclaim) = match write {
            BookingWrite::Update(booking) => (booking, None),
            BookingWrite::Reclaim(booking, claim) => (booking, Some(claim)),
            BookingWrite::Create(..) => {
                return Err(StoreError::Corrupt("a new booking has no version".into()));
            }
        };
        let Some(base) = booking.version.checked_sub(1) else {
            return Err(StoreError::Corrupt("a booking change at version 0".into()));
        };
        if let Some(claim) = &reclaim {
            // Not live in `live_bookings` yet, so it does not count against itself.
            self.check_capacity(claim).await?;
        }
        let claim = match &payment {
            Some(payment) => Some((payment.event_id.clone(), self.claim_payment(payment).await?)),
            None => None,
        };
        let release = |claim: Option<(String, String)>| async move {
            if let Some((event_id, token)) = claim {
                self.release_payment(&event_id, &token).await;
            }
        };
        let decided = async {
            let latest = versions::latest(&self.cql, booking.id).await?;
            let mut micros = now_micros();
            if let Some(latest) = &latest {
                micros = micros.max(latest.micros + 1);
                // The version this change was decided on is not placed yet: its node is at it,
                // or died (then the timekeeper places it). Nothing is decided on it before.
                if latest.version == base && !latest.placed {
                    self.wait_placed(booking.id, base).await?;
                }
            }
            let decided = Decided {
                booking,
                payment,
                audit,
                events,
                origin: self.origin.get().copied(),
            };
            let decision = Decision {
                booking: decided.booking.id,
                base,
                fence,
                doc: &to_json(&decided.booking)?,
                decided: &to_json(&decided)?,
                micros,
            };
            // Noted first, so that the timekeeper finds it if this node dies before placing.
            versions::intend(&self.cql, decided.booking.id, base + 1, micros).await?;
            // An error here leaves the outcome unknown: if the decision was stored, the
            // timekeeper places it.
            let applied = versions::decide(&self.cql, &decision).await?;
            if !applied {
                let _ = self
                    .cql
                    .logged_batch(vec![versions::forget(decided.booking.id, base + 1)])
                    .await;
            }
            Ok::<_, StoreError>(applied.then_some((decided, micros)))
        };
        let (decided, micros) = match decided.await {
            Ok(Some(decided)) => decided,
            Ok(None) => {
                release(claim).await;
                return Err(StoreError::Conflict);
            }
            Err(err) => {
                release(claim).await;
                return Err(err);
            }
        };
        // Decided: from here on the change happens, placed by this node or the timekeeper.
        let stored = self.seqs_of(&decided, true).await?;
        self.place(&decided, &stored, micros).await?;
        Ok(stored)
    }

    /// Waits until `version` of `booking` is placed, at most [`PLACE_WAIT`]: then 503.
    async fn wait_placed(&self, booking: BookingId, version: u64) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + PLACE_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            match versions::latest(&self.cql, booking).await? {
                Some(latest) if latest.version == version && !latest.placed => {}
                _ => return Ok(()),
            }
        }
        Err(StoreError::Unavailable(format!(
            "version {version} of booking {booking} is not placed yet"
        )))
    }

    /// Places a decided change that its node did not place (it died, or is still at it).
    async fn complete(&self, latest: &versions::Latest) -> Result<(), StoreError> {
        let Some(decided) = &latest.decided else {
            return Ok(()); // a first version: written whole when the booking was created
        };
        let decided: Decided = from_json(decided)?;
        let stored = self.seqs_of(&decided, false).await?;
        self.place(&decided, &stored, latest.micros).await
    }

    /// The seqs of a decided change's events: taken once and recorded in its version row by
    /// a compare-and-set, so that two nodes placing it (its own and a reader) place it at the
    /// same seqs. The loser of that race gives its own seqs back.
    ///
    /// `just_decided`: by this call's own node a moment ago, so none can be recorded yet (the
    /// timekeeper waits 8 s) and the read of recorded seqs is skipped.
    async fn seqs_of(
        &self,
        decided: &Decided,
        just_decided: bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (id, version) = (decided.booking.id, decided.booking.version);
        if !just_decided
            && let Some(recorded) = versions::recorded_seqs(&self.cql, id, version).await?
        {
            return from_json(&recorded);
        }
        let stored = self.take_seqs_of(decided.events.clone()).await?;
        match versions::record_seqs(&self.cql, id, version, &to_json(&stored)?).await {
            Ok(true) => Ok(stored),
            Ok(false) => {
                self.give_back_all(&stored).await;
                let recorded = versions::recorded_seqs(&self.cql, id, version).await?;
                from_json(
                    &recorded
                        .ok_or_else(|| StoreError::Corrupt("seqs recorded and then gone".into()))?,
                )
            }
            Err(err) => Err(err),
        }
    }

    /// Writes what a decided booking change writes, at the seqs recorded for it and with its
    /// decision's timestamp (so a late second placement of an older version cannot overwrite a
    /// newer one), and marks it placed. Placing twice writes the same rows twice.
    async fn place(
        &self,
        decided: &Decided,
        stored: &[StoredEvent],
        micros: i64,
    ) -> Result<(), StoreError> {
        let mut batch = vec![];
        Self::booking_rows(&mut batch, &decided.booking, false)?;
        if let Some(payment) = &decided.payment {
            Self::payment_rows(&mut batch, payment)?;
        }
        Self::audit_rows(&mut batch, decided.audit.as_ref())?;
        Self::event_rows(&mut batch, stored)?;
        if let Some(origin) = decided.origin {
            fan_out(&mut batch, origin, stored)?;
        }
        batch.push(versions::placed(
            decided.booking.id,
            decided.booking.version,
        ));
        batch.push(versions::forget(
            decided.booking.id,
            decided.booking.version,
        ));
        self.cql.logged_batch_at(batch, micros).await
    }

    /// Places the booking changes whose node noted them more than [`PLACE_GRACE_MICROS`] ago
    /// and did not place them (it died), and forgets those never decided. Answers how many
    /// it placed.
    pub(super) async fn place_left_behind(&self) -> Result<usize, StoreError> {
        let before = now_micros() - PLACE_GRACE_MICROS;
        let mut placed = 0;
        for (booking, version) in versions::intended_before(&self.cql, before).await? {
            match versions::latest(&self.cql, booking).await? {
                Some(latest) if latest.version == version && !latest.placed => {
                    self.complete(&latest).await?;
                    placed += 1;
                }
                // Placed meanwhile (its batch forgot the note, or will), or never decided.
                _ => {
                    self.cql
                        .logged_batch(vec![versions::forget(booking, version)])
                        .await?;
                }
            }
        }
        Ok(placed)
    }

    /// Gives back the seqs of events that will not be written (see [`Self::give_back`]).
    async fn give_back_all(&self, stored: &[StoredEvent]) {
        let mut ranges = std::collections::BTreeMap::<Stream, (u64, u64)>::new();
        for event in stored {
            let range = ranges.entry(event.stream).or_insert((event.seq, 0));
            range.0 = range.0.min(event.seq);
            range.1 += 1;
        }
        for (stream, (first, count)) in ranges {
            self.give_back(stream, first, count).await;
        }
    }

    /// The rows of a new payment notification.
    fn payment_rows(
        batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
        payment: &Payment,
    ) -> Result<(), StoreError> {
        batch.push((
            "INSERT INTO {ks}.payments (event_id, doc) VALUES (?, ?)",
            vec![text(&payment.event_id), text(to_json(payment)?)],
        ));
        batch.push((
            "INSERT INTO {ks}.payment_ids (id, event_id) VALUES (?, ?)",
            vec![text(payment.id().to_string()), text(&payment.event_id)],
        ));
        let mut scopes = vec![Scope::All];
        scopes.extend(payment.outlet_id.map(Scope::Outlet));
        Self::timeline(
            batch,
            "payment",
            &scopes,
            payment.received_at,
            &payment.event_id,
        );
        Ok(())
    }

    /// Claims a payment's event id: `INSERT … IF NOT EXISTS` on `unique_keys`, as for e-mails
    /// and booth tokens. A logged batch cannot hold a compare-and-set on another partition, so
    /// the claim comes first and the batch (with the payment) after it.
    ///
    /// The loser of a race waits for the winner's batch and gets [`StoreError::Duplicate`]
    /// once the payment is stored. A claim whose payment is never stored was left by a writer
    /// that died between claim and batch: after [`PAYMENT_CLAIM_STALE`] it is taken over
    /// (compare-and-set on its holder); before that the retry is told to come back
    /// ([`StoreError::Unavailable`], a 503).
    async fn claim_payment(&self, payment: &Payment) -> Result<String, StoreError> {
        let event_id = payment.event_id.as_str();
        let token = format!(
            "{}@{}",
            uuid::Uuid::new_v4(),
            payment.received_at.timestamp_millis()
        );
        let mut wait = Duration::from_millis(5);
        for _ in 0..PAYMENT_CLAIM_ATTEMPTS {
            let claimed = self
                .cql
                .lwt(
                    "INSERT INTO {ks}.unique_keys (kind, key, id) VALUES ('payment', ?, ?) IF NOT EXISTS",
                    vec![text(event_id), text(&token)],
                )
                .await?;
            if claimed {
                return self.unless_stored(event_id, token).await;
            }
            if self.payment(event_id).await?.is_some() {
                return Err(StoreError::Duplicate("payment event id"));
            }
            // Claimed but not stored: the holder is between its claim and its batch, or died.
            let holder = self
                .cql
                .serial_rows(
                    "SELECT id FROM {ks}.unique_keys WHERE kind = 'payment' AND key = ?",
                    vec![text(event_id)],
                )
                .await?
                .first()
                .and_then(|r| cql::col_text(r, 0));
            let Some(holder) = holder else {
                continue; // released meanwhile: claim again
            };
            if claim_is_stale(&holder, payment.received_at) {
                let taken = self
                    .cql
                    .lwt(
                        "UPDATE {ks}.unique_keys SET id = ? WHERE kind = 'payment' AND key = ? IF id = ?",
                        vec![text(&token), text(event_id), text(&holder)],
                    )
                    .await?;
                if taken {
                    return self.unless_stored(event_id, token).await;
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(100));
        }
        Err(StoreError::Unavailable(format!(
            "the payment event id {event_id} is being stored by another request"
        )))
    }

    /// A claim just won, unless the payment is stored already (stored before claims existed,
    /// or by the writer whose stale claim was taken over).
    async fn unless_stored(&self, event_id: &str, token: String) -> Result<String, StoreError> {
        if self.payment(event_id).await?.is_some() {
            return Err(StoreError::Duplicate("payment event id"));
        }
        Ok(token)
    }

    async fn release_payment(&self, event_id: &str, token: &str) {
        let _ = self
            .cql
            .lwt(
                "DELETE FROM {ks}.unique_keys WHERE kind = 'payment' AND key = ? IF id = ?",
                vec![text(event_id), text(token)],
            )
            .await;
    }

    /// Gives back the `count` seqs from `first` of `stream`, taken by a change that will not
    /// be written, unless another writer took seqs after them (then they stay a gap, skipped
    /// by readers after 10 s).
    async fn give_back(&self, stream: Stream, first: u64, count: u64) {
        let cell = Arc::clone(&*self.heads.entry(stream).or_default());
        let mut cached = cell.lock().await;
        let last = (first + count - 1) as i64;
        let returned = self
            .cql
            .lwt(
                "UPDATE {ks}.stream_heads SET seq = ? WHERE stream = ? IF seq = ?",
                vec![
                    bigint(first as i64 - 1),
                    text(stream.to_string()),
                    bigint(last),
                ],
            )
            .await;
        *cached = match returned {
            Ok(true) => Some(first as i64 - 1),
            _ => None,
        };
    }

    /// Gives each event its seq in each of its streams: one compare-and-set per stream for
    /// the whole change, all within [`SEQ_DEADLINE`]; seqs taken for a change that cannot take
    /// the rest are given back.
    async fn take_seqs_of(
        &self,
        events: Vec<crate::domain::event::Event>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut counts = std::collections::BTreeMap::<Stream, u64>::new();
        for event in &events {
            for stream in event.streams() {
                *counts.entry(stream).or_default() += 1;
            }
        }
        // `all`, the stream every node contends on, goes first: when its seqs cannot be taken
        // in time, no other stream has given any out.
        let deadline = tokio::time::Instant::now() + SEQ_DEADLINE;
        let mut next = std::collections::BTreeMap::new();
        for (stream, count) in counts.iter().rev() {
            match self.take_seqs(*stream, *count, deadline).await {
                Ok(first) => {
                    next.insert(*stream, first);
                }
                Err(err) => {
                    for (taken, first) in &next {
                        self.give_back(*taken, *first, counts[taken]).await;
                    }
                    return Err(err);
                }
            }
        }
        let mut stored = vec![];
        for event in events {
            for stream in event.streams() {
                let Some(slot) = next.get_mut(&stream) else {
                    continue;
                };
                let seq = *slot;
                *slot += 1;
                stored.push(StoredEvent {
                    stream,
                    seq,
                    event: event.clone(),
                });
            }
        }
        Ok(stored)
    }

    /// The rows of events at their places: the log, and a booking's history.
    fn event_rows(
        batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
        stored: &[StoredEvent],
    ) -> Result<(), StoreError> {
        for placed in stored {
            let doc = to_json(&placed.event)?;
            if let (Stream::All, Some(booking)) = (placed.stream, placed.event.booking_id) {
                batch.push((
                    "INSERT INTO {ks}.booking_events (booking_id, seq, doc) VALUES (?, ?, ?)",
                    vec![
                        text(booking.to_string()),
                        bigint(placed.seq as i64),
                        text(&doc),
                    ],
                ));
            }
            batch.push((
                "INSERT INTO {ks}.events (stream, bucket, seq, doc) VALUES (?, ?, ?, ?)",
                vec![
                    text(placed.stream.to_string()),
                    bigint(bucket(placed.seq)),
                    bigint(placed.seq as i64),
                    text(doc),
                ],
            ));
        }
        Ok(())
    }

    /// A page of a timeline, newest first, starting after `cursor`, keeping the entries that
    /// `keep` accepts (filters the timeline cannot express).
    async fn list_timeline<T, K, Fut>(
        &self,
        kind: &str,
        scope: Scope,
        bounds: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        page: &PageRequest,
        mut fetch: K,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, StoreError>
    where
        K: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
    {
        let scope = &scope.to_string();
        let cursor = page.cursor.as_deref().map(decode_cursor).transpose()?;
        let months: Vec<String> = self
            .cql
            .rows(
                "SELECT month FROM {ks}.timeline_months WHERE kind = ? AND scope = ?",
                vec![text(kind), text(scope)],
            )
            .await?
            .iter()
            .filter_map(|r| cql::col_text(r, 0))
            .collect();
        let (from, to) = bounds;
        let limit = page.limit as usize;
        let mut items: Vec<(Entry, T)> = vec![];
        for month_name in months {
            if from.is_some_and(|f| month_name < month(f))
                || to.is_some_and(|t| month_name > month(t))
            {
                continue;
            }
            let mut entries = vec![];
            let rows = match &cursor {
                Some((at, id)) => {
                    self.cql
                        .rows(
                            "SELECT at, id FROM {ks}.timeline WHERE kind = ? AND scope = ? AND month = ? AND (at, id) < (?, ?)",
                            vec![text(kind), text(scope), text(&month_name), ts(*at), text(id)],
                        )
                        .await?
                }
                None => {
                    self.cql
                        .rows(
                            "SELECT at, id FROM {ks}.timeline WHERE kind = ? AND scope = ? AND month = ?",
                            vec![text(kind), text(scope), text(&month_name)],
                        )
                        .await?
                }
            };
            for row in &rows {
                if let (Some(at), Some(id)) = (cql::col_ts(row, 0), cql::col_text(row, 1)) {
                    if from.is_some_and(|f| at < f) || to.is_some_and(|t| at > t) {
                        continue;
                    }
                    entries.push(Entry { at, id });
                }
            }
            for entry in entries {
                let item = fetch(entry.id.clone()).await?.filter(|item| keep(item));
                if let Some(item) = item {
                    items.push((entry, item));
                    if items.len() > limit {
                        break;
                    }
                }
            }
            if items.len() > limit {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|(e, _)| encode_cursor(e.at, &e.id))
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(_, item)| item).collect(),
            next_cursor,
        })
    }

    async fn list_directory<T: DeserializeOwned>(
        &self,
        kind: &str,
        ids: Option<Vec<String>>,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let after = page.cursor.clone().unwrap_or_default();
        let limit = page.limit as usize;
        let rows = match ids {
            Some(ids) => {
                let mut docs = vec![];
                for id in ids.into_iter().filter(|id| *id > after).take(limit + 1) {
                    docs.extend(
                        self.cql
                            .rows(
                                "SELECT id, doc FROM {ks}.directory WHERE kind = ? AND id = ?",
                                vec![text(kind), text(id)],
                            )
                            .await?,
                    );
                }
                docs
            }
            None => {
                self.cql
                    .rows(
                        "SELECT id, doc FROM {ks}.directory WHERE kind = ? AND id > ? LIMIT ?",
                        vec![
                            text(kind),
                            text(&after),
                            int(i32::try_from(limit + 1).unwrap_or(i32::MAX)),
                        ],
                    )
                    .await?
            }
        };
        let mut items = vec![];
        let mut last_ids = vec![];
        for row in &rows {
            if let (Some(id), Some(doc)) = (cql::col_text(row, 0), cql::col_text(row, 1)) {
                items.push(from_json::<T>(&doc)?);
                last_ids.push(id);
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            last_ids.get(limit - 1).cloned()
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

/// Adds the fan-out row of a change whose events are `stored` to its batch: keyed by its first
/// seq on `all`. A change with nothing on `all` (none is made today) is not fanned out.
fn fan_out(
    batch: &mut Vec<(&'static str, Vec<CqlValue>)>,
    origin: NodeId,
    stored: &[StoredEvent],
) -> Result<(), StoreError> {
    let Some(first) = stored
        .iter()
        .filter(|e| e.stream == Stream::All)
        .map(|e| e.seq)
        .min()
    else {
        if !stored.is_empty() {
            tracing::warn!("a change with no event on `all` is not fanned out to other nodes");
        }
        return Ok(());
    };
    batch.push((
        "INSERT INTO {ks}.fanout (bucket, seq, origin, events) VALUES (?, ?, ?, ?)",
        vec![
            bigint(bucket(first)),
            bigint(first as i64),
            text(origin.to_string()),
            text(to_json(&stored)?),
        ],
    ));
    Ok(())
}

/// Whether a payment claim (`<owner>@<millis of the payment's received_at>`) is older than
/// [`PAYMENT_CLAIM_STALE`] at `now`. An unreadable claim is stale: it was not written by us.
fn claim_is_stale(holder: &str, now: DateTime<Utc>) -> bool {
    holder
        .rsplit_once('@')
        .and_then(|(_, millis)| millis.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .is_none_or(|at| now - at > PAYMENT_CLAIM_STALE)
}

/// The statements of a schema file: split on `;`, comments dropped.
fn statements(file: &str) -> Vec<String> {
    let without_comments: String = file
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

#[async_trait]
impl Store for ScyllaStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.cql
            .rows("SELECT release_version FROM system.local", vec![])
            .await
            .map(|_| ())
    }

    async fn commit(&self, change: Change) -> Result<Vec<StoredEvent>, StoreError> {
        // Slot claims of an outlet are serialised by a lease, so that check and insert are one step.
        let name = match &change.booking {
            Some(BookingWrite::Create(booking, _) | BookingWrite::Reclaim(booking, _)) => {
                Some(format!("slots:{}", booking.outlet_id))
            }
            _ => None,
        };
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let _turn = match &name {
            Some(name) => {
                let turn = Arc::clone(&*self.lease_turns.entry(name.clone()).or_default());
                let taken = tokio::time::timeout_at(deadline, turn.lock_owned()).await;
                Some(taken.map_err(|_| {
                    StoreError::Unavailable(format!("the lease {name} stayed taken"))
                })?)
            }
            None => None,
        };
        let lease = match name {
            Some(name) => Some((self.lease(&name, deadline).await?, name)),
            None => None,
        };
        let result = self.commit_locked(change).await;
        if let Some((owner, name)) = lease {
            self.release(&name, &owner).await;
        }
        result
    }

    async fn raise_fence(&self, booking: BookingId, fence: i64) -> Result<bool, StoreError> {
        versions::raise_fence(&self.cql, booking, fence).await
    }

    async fn booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError> {
        let Some(latest) = versions::latest(&self.cql, id).await? else {
            // Not changed since the version log (006) began: as stored, at version 0.
            return self
                .doc(
                    "SELECT doc FROM {ks}.bookings WHERE id = ?",
                    text(id.to_string()),
                )
                .await;
        };
        let mut booking: Booking = from_json(&latest.doc)?;
        booking.version = latest.version;
        Ok(Some(booking))
    }

    async fn list_bookings(
        &self,
        filter: &BookingFilter,
        page: &PageRequest,
    ) -> Result<Page<Booking>, StoreError> {
        let scope = Scope::narrowest(None, filter.outlet_id);
        let status = filter.status;
        self.list_timeline(
            "booking",
            scope,
            (filter.from, filter.to),
            page,
            |id| async move {
                self.doc("SELECT doc FROM {ks}.bookings WHERE id = ?", text(id))
                    .await
            },
            |booking: &Booking| status.is_none_or(|s| booking.status == s),
        )
        .await
    }

    async fn live_bookings(&self) -> Result<Vec<Booking>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT id FROM {ks}.live_bookings WHERE scope = 'all'",
                vec![],
            )
            .await?;
        let mut bookings = vec![];
        for id in rows.iter().filter_map(|r| cql::col_text(r, 0)) {
            if let Some(booking) = self
                .doc::<Booking>("SELECT doc FROM {ks}.bookings WHERE id = ?", text(id))
                .await?
            {
                bookings.push(booking);
            }
        }
        Ok(bookings)
    }

    async fn payment(&self, event_id: &str) -> Result<Option<Payment>, StoreError> {
        self.doc(
            "SELECT doc FROM {ks}.payments WHERE event_id = ?",
            text(event_id),
        )
        .await
    }

    async fn list_payments(
        &self,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> Result<Page<Payment>, StoreError> {
        let scope = Scope::narrowest(None, filter.outlet_id);
        let (refund, booking) = (filter.refund_required, filter.booking_id);
        self.list_timeline(
            "payment",
            scope,
            (None, None),
            page,
            |id| async move { self.payment(&id).await },
            |payment: &Payment| {
                refund.is_none_or(|r| payment.refund_required == r)
                    && booking.is_none_or(|b| payment.booking_id == b)
            },
        )
        .await
    }

    async fn payment_by_id(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT event_id FROM {ks}.payment_ids WHERE id = ?",
                vec![text(id.to_string())],
            )
            .await?;
        match rows.first().and_then(|r| cql::col_text(r, 0)) {
            Some(event_id) => self.payment(&event_id).await,
            None => Ok(None),
        }
    }

    async fn booking_events(&self, booking: BookingId) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT seq, doc FROM {ks}.booking_events WHERE booking_id = ?",
                vec![text(booking.to_string())],
            )
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let (Some(seq), Some(doc)) = (cql::col_bigint(row, 0), cql::col_text(row, 1)) {
                events.push(StoredEvent {
                    stream: Stream::All,
                    seq: seq as u64,
                    event: from_json(&doc)?,
                });
            }
        }
        Ok(events)
    }

    async fn events_after(
        &self,
        stream: Stream,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let head = self.stream_head(stream).await?;
        let name = stream.to_string();
        let mut events = vec![];
        let mut from = after + 1;
        while from <= head && events.len() < limit as usize {
            let rows = self
                .cql
                .rows(
                    "SELECT seq, doc FROM {ks}.events WHERE stream = ? AND bucket = ? AND seq >= ? LIMIT ?",
                    vec![text(&name), bigint(bucket(from)), bigint(from as i64), int(i32::try_from(limit).unwrap_or(i32::MAX))],
                )
                .await?;
            for row in &rows {
                let (Some(seq), Some(doc)) = (cql::col_bigint(row, 0), cql::col_text(row, 1))
                else {
                    continue;
                };
                if events.len() < limit as usize {
                    let event = from_json(&doc)?;
                    events.push(StoredEvent {
                        stream,
                        seq: seq as u64,
                        event,
                    });
                }
            }
            from = (from / EVENT_BUCKET + 1) * EVENT_BUCKET;
        }
        Ok(events)
    }

    async fn stream_head(&self, stream: Stream) -> Result<u64, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT seq FROM {ks}.stream_heads WHERE stream = ?",
                vec![text(stream.to_string())],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| cql::col_bigint(r, 0))
            .unwrap_or(0) as u64)
    }

    async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, StoreError> {
        let scope = Scope::narrowest(filter.booth_id.map(Scope::Booth), filter.outlet_id);
        let outlet = filter.outlet_id;
        self.list_timeline(
            "dead_letter",
            scope,
            (None, None),
            page,
            |id| async move {
                self.doc("SELECT doc FROM {ks}.dead_letters WHERE id = ?", text(id))
                    .await
            },
            |letter: &DeadLetter| outlet.is_none_or(|o| letter.outlet_id == o),
        )
        .await
    }

    async fn system_config(&self) -> Result<Option<SystemConfig>, StoreError> {
        self.doc("SELECT doc FROM {ks}.system_config WHERE id = ?", int(1))
            .await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let scope = Scope::narrowest(filter.booking_id.map(Scope::Booking), filter.outlet_id);
        let (outlet, action, actor) = (filter.outlet_id, filter.action, filter.actor_id);
        self.list_timeline(
            "audit",
            scope,
            (filter.from, filter.to),
            page,
            |id| async move {
                self.doc("SELECT doc FROM {ks}.audit WHERE id = ?", text(id))
                    .await
            },
            |entry: &AuditEntry| {
                outlet.is_none_or(|o| entry.outlet_id == Some(o))
                    && action.is_none_or(|a| entry.kind == a)
                    && actor.is_none_or(|u| entry.actor_id == Some(u))
            },
        )
        .await
    }

    async fn create_outlet(
        &self,
        outlet: &Outlet,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut batch = vec![(
            "INSERT INTO {ks}.directory (kind, id, doc) VALUES ('outlet', ?, ?)",
            vec![text(outlet.id.to_string()), text(to_json(outlet)?)],
        )];
        Self::audit_rows(&mut batch, audit)?;
        self.cql.logged_batch(batch).await
    }

    async fn update_outlet(
        &self,
        outlet: &Outlet,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        if self.outlet(outlet.id).await?.is_none() {
            return Err(StoreError::NotFound("outlet"));
        }
        self.create_outlet(outlet, audit).await
    }

    async fn outlet(&self, id: OutletId) -> Result<Option<Outlet>, StoreError> {
        self.doc(
            "SELECT doc FROM {ks}.directory WHERE kind = 'outlet' AND id = ?",
            text(id.to_string()),
        )
        .await
    }

    async fn list_outlets(
        &self,
        only: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Outlet>, StoreError> {
        self.list_directory("outlet", only.map(|o| vec![o.to_string()]), page)
            .await
    }

    async fn outlet_ids(&self) -> Result<Vec<OutletId>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT id FROM {ks}.directory WHERE kind = 'outlet'",
                vec![],
            )
            .await?;
        rows.iter()
            .filter_map(|r| cql::col_text(r, 0))
            .map(|id| {
                id.parse()
                    .map_err(|e: uuid::Error| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn create_user(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), StoreError> {
        let email = user.email.to_lowercase();
        let claimed = self
            .cql
            .lwt(
                "INSERT INTO {ks}.unique_keys (kind, key, id) VALUES ('email', ?, ?) IF NOT EXISTS",
                vec![text(&email), text(user.id.to_string())],
            )
            .await?;
        if !claimed {
            return Err(StoreError::EmailTaken);
        }
        let mut batch = vec![(
            "INSERT INTO {ks}.directory (kind, id, doc) VALUES ('user', ?, ?)",
            vec![text(user.id.to_string()), text(to_json(user)?)],
        )];
        Self::audit_rows(&mut batch, audit)?;
        self.cql.logged_batch(batch).await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.doc(
            "SELECT doc FROM {ks}.directory WHERE kind = 'user' AND id = ?",
            text(id.to_string()),
        )
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT id FROM {ks}.unique_keys WHERE kind = 'email' AND key = ?",
                vec![text(email.to_lowercase())],
            )
            .await?;
        match rows.first().and_then(|r| cql::col_text(r, 0)) {
            Some(id) => {
                self.doc(
                    "SELECT doc FROM {ks}.directory WHERE kind = 'user' AND id = ?",
                    text(id),
                )
                .await
            }
            None => Ok(None),
        }
    }

    async fn update_user(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), StoreError> {
        if self.user(user.id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        let mut batch = vec![(
            "INSERT INTO {ks}.directory (kind, id, doc) VALUES ('user', ?, ?)",
            vec![text(user.id.to_string()), text(to_json(user)?)],
        )];
        Self::audit_rows(&mut batch, audit)?;
        self.cql.logged_batch(batch).await
    }

    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        self.list_directory("user", None, page).await
    }

    async fn has_super_admin(&self) -> Result<bool, StoreError> {
        let rows = self
            .cql
            .rows("SELECT doc FROM {ks}.directory WHERE kind = 'user'", vec![])
            .await?;
        for doc in rows.iter().filter_map(|r| cql::col_text(r, 0)) {
            let user = from_json::<User>(&doc)?;
            if user.active && user.role == Role::SuperAdmin {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn create_booth(
        &self,
        booth: &Booth,
        token_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let id = booth.id.to_string();
        let claimed = self
            .cql
            .lwt(
                "INSERT INTO {ks}.unique_keys (kind, key, id) VALUES ('booth_token', ?, ?) IF NOT EXISTS",
                vec![text(token_hash), text(&id)],
            )
            .await?;
        if !claimed {
            return Err(StoreError::Duplicate("booth token"));
        }
        let mut batch = vec![
            (
                "INSERT INTO {ks}.directory (kind, id, doc) VALUES ('booth', ?, ?)",
                vec![text(&id), text(to_json(booth)?)],
            ),
            (
                "INSERT INTO {ks}.booths_by_outlet (outlet_id, id) VALUES (?, ?)",
                vec![text(booth.outlet_id.to_string()), text(&id)],
            ),
        ];
        Self::audit_rows(&mut batch, audit)?;
        self.cql.logged_batch(batch).await
    }

    async fn update_booth(
        &self,
        booth: &Booth,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let _turn = self.booth_turn(booth.id).await;
        let Some(current) = self.booth(booth.id).await? else {
            return Err(StoreError::NotFound("booth"));
        };
        // Presence is the presence writer's: keep what it recorded meanwhile.
        let booth = &Booth {
            online: current.online,
            last_seen_at: current.last_seen_at,
            ..booth.clone()
        };
        let (id, outlet) = (booth.id.to_string(), booth.outlet_id.to_string());
        let inactive = if booth.active {
            "DELETE FROM {ks}.inactive_booths WHERE outlet_id = ? AND id = ?"
        } else {
            "INSERT INTO {ks}.inactive_booths (outlet_id, id) VALUES (?, ?)"
        };
        let mut batch = vec![
            (
                "INSERT INTO {ks}.directory (kind, id, doc) VALUES ('booth', ?, ?)",
                vec![text(&id), text(to_json(booth)?)],
            ),
            (inactive, vec![text(outlet), text(&id)]),
        ];
        Self::audit_rows(&mut batch, audit)?;
        self.cql.logged_batch(batch).await
    }

    async fn set_booth_token(
        &self,
        booth: BoothId,
        token_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let id = booth.to_string();
        if self.booth(booth).await?.is_none() {
            return Err(StoreError::NotFound("booth"));
        }
        let claimed = self
            .cql
            .lwt(
                "INSERT INTO {ks}.unique_keys (kind, key, id) VALUES ('booth_token', ?, ?) IF NOT EXISTS",
                vec![text(token_hash), text(&id)],
            )
            .await?;
        if !claimed {
            return Err(StoreError::Duplicate("booth token"));
        }
        let previous = self
            .cql
            .rows(
                "SELECT token_hash FROM {ks}.booth_tokens WHERE booth_id = ?",
                vec![text(&id)],
            )
            .await?;
        // The new token is the booth's from this write on: the old one (claimed at creation
        // or at the last rotation) no longer matches `booth_tokens` and is refused.
        let mut batch = vec![(
            "INSERT INTO {ks}.booth_tokens (booth_id, token_hash) VALUES (?, ?)",
            vec![text(&id), text(token_hash)],
        )];
        Self::audit_rows(&mut batch, audit)?;
        self.cql.logged_batch(batch).await?;
        if let Some(old) = previous.first().and_then(|r| cql::col_text(r, 0)) {
            self.cql
                .exec(
                    "DELETE FROM {ks}.unique_keys WHERE kind = 'booth_token' AND key = ?",
                    vec![text(old)],
                )
                .await?;
        }
        Ok(())
    }

    async fn booth(&self, id: BoothId) -> Result<Option<Booth>, StoreError> {
        self.doc(
            "SELECT doc FROM {ks}.directory WHERE kind = 'booth' AND id = ?",
            text(id.to_string()),
        )
        .await
    }

    async fn booth_by_token(&self, token_hash: &str) -> Result<Option<Booth>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT id FROM {ks}.unique_keys WHERE kind = 'booth_token' AND key = ?",
                vec![text(token_hash)],
            )
            .await?;
        let Some(id) = rows.first().and_then(|r| cql::col_text(r, 0)) else {
            return Ok(None);
        };
        let current = self
            .cql
            .rows(
                "SELECT token_hash FROM {ks}.booth_tokens WHERE booth_id = ?",
                vec![text(&id)],
            )
            .await?;
        // A rotated booth answers only to its current token (see `set_booth_token`).
        if current
            .first()
            .and_then(|r| cql::col_text(r, 0))
            .is_some_and(|current| current != token_hash)
        {
            return Ok(None);
        }
        self.doc(
            "SELECT doc FROM {ks}.directory WHERE kind = 'booth' AND id = ?",
            text(id),
        )
        .await
    }

    async fn list_booths(
        &self,
        outlet: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Booth>, StoreError> {
        let ids = match outlet {
            Some(outlet) => {
                let rows = self
                    .cql
                    .rows(
                        "SELECT id FROM {ks}.booths_by_outlet WHERE outlet_id = ?",
                        vec![text(outlet.to_string())],
                    )
                    .await?;
                let ids: BTreeSet<String> =
                    rows.iter().filter_map(|r| cql::col_text(r, 0)).collect();
                Some(ids.into_iter().collect())
            }
            None => None,
        };
        self.list_directory("booth", ids, page).await
    }

    async fn count_booths(&self, outlet: OutletId) -> Result<u64, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT id FROM {ks}.booths_by_outlet WHERE outlet_id = ?",
                vec![text(outlet.to_string())],
            )
            .await?;
        let inactive = self
            .cql
            .rows(
                "SELECT id FROM {ks}.inactive_booths WHERE outlet_id = ?",
                vec![text(outlet.to_string())],
            )
            .await?;
        Ok(rows.len().saturating_sub(inactive.len()) as u64)
    }

    async fn booths_online(&self) -> Result<Vec<Booth>, StoreError> {
        let rows = self
            .cql
            .rows("SELECT id FROM {ks}.booths_online WHERE shard = 0", vec![])
            .await?;
        let mut booths = vec![];
        for id in rows.iter().filter_map(|r| cql::col_text(r, 0)) {
            if let Some(booth) = self
                .doc::<Booth>(
                    "SELECT doc FROM {ks}.directory WHERE kind = 'booth' AND id = ?",
                    text(id),
                )
                .await?
            {
                booths.push(booth);
            }
        }
        Ok(booths)
    }

    async fn put_login(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The rows live as long as the token (a minute more, for clocks); `login` checks the
        // expiry itself.
        let user = user.to_string();
        #[expect(
            clippy::disallowed_methods,
            reason = "a row's time to live counts on the CQL server's wall clock"
        )]
        let left = (expires_at - chrono::Utc::now()).num_seconds() + 60;
        let ttl = int(i32::try_from(left.clamp(60, 31_622_400)).unwrap_or(31_622_400));
        self.cql
            .logged_batch(vec![
                (
                    "INSERT INTO {ks}.login_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?) USING TTL ?",
                    vec![text(token_hash), text(&user), ts(expires_at), ttl.clone()],
                ),
                (
                    "INSERT INTO {ks}.logins_by_user (user_id, token_hash, expires_at) VALUES (?, ?, ?) USING TTL ?",
                    vec![text(&user), text(token_hash), ts(expires_at), ttl],
                ),
            ])
            .await
    }

    async fn login(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT user_id, expires_at FROM {ks}.login_tokens WHERE token_hash = ?",
                vec![text(token_hash)],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        match (cql::col_text(row, 0), cql::col_ts(row, 1)) {
            (Some(user), Some(expires)) if expires > now => {
                let user = user
                    .parse()
                    .map_err(|e: uuid::Error| StoreError::Corrupt(e.to_string()))?;
                Ok(Some((user, expires)))
            }
            _ => Ok(None),
        }
    }

    async fn delete_login(&self, token_hash: &str) -> Result<(), StoreError> {
        let rows = self
            .cql
            .rows(
                "SELECT user_id FROM {ks}.login_tokens WHERE token_hash = ?",
                vec![text(token_hash)],
            )
            .await?;
        let mut batch = vec![(
            "DELETE FROM {ks}.login_tokens WHERE token_hash = ?",
            vec![text(token_hash)],
        )];
        if let Some(user) = rows.first().and_then(|r| cql::col_text(r, 0)) {
            batch.push((
                "DELETE FROM {ks}.logins_by_user WHERE user_id = ? AND token_hash = ?",
                vec![text(user), text(token_hash)],
            ));
        }
        self.cql.logged_batch(batch).await
    }

    async fn delete_logins_of(
        &self,
        user: UserId,
        except: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let user = user.to_string();
        let rows = self
            .cql
            .rows(
                "SELECT token_hash FROM {ks}.logins_by_user WHERE user_id = ?",
                vec![text(&user)],
            )
            .await?;
        let ended: Vec<String> = rows
            .iter()
            .filter_map(|row| cql::col_text(row, 0))
            .filter(|hash| Some(hash.as_str()) != except)
            .collect();
        // A few logins per batch: a batch stays far below the server's size limit.
        for chunk in ended.chunks(32) {
            let mut batch = vec![];
            for hash in chunk {
                batch.push((
                    "DELETE FROM {ks}.login_tokens WHERE token_hash = ?",
                    vec![text(hash)],
                ));
                batch.push((
                    "DELETE FROM {ks}.logins_by_user WHERE user_id = ? AND token_hash = ?",
                    vec![text(&user), text(hash)],
                ));
            }
            self.cql.logged_batch(batch).await?;
        }
        Ok(ended)
    }

    async fn secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.cql
            .lwt(
                "INSERT INTO {ks}.secrets (name, value) VALUES (?, ?) IF NOT EXISTS",
                vec![text(name), blob(candidate.to_vec())],
            )
            .await?;
        let rows = self
            .cql
            .serial_rows(
                "SELECT value FROM {ks}.secrets WHERE name = ?",
                vec![text(name)],
            )
            .await?;
        rows.first()
            .and_then(|r| cql::col_blob(r, 0))
            .ok_or_else(|| StoreError::Corrupt(format!("secret {name} missing")))
    }
}

#[cfg(all(test, feature = "scylla-tests"))]
mod tests {
    use super::*;
    use crate::store::{ClusterStore, ShardLease};

    fn settings(prefix: &str) -> ScyllaSettings {
        #[allow(
            clippy::disallowed_methods,
            reason = "the test server's address comes from the test runner"
        )]
        let nodes = std::env::var("BOOTHHUB_TEST_SCYLLA_NODES").unwrap_or_else(|_| {
            panic!("set BOOTHHUB_TEST_SCYLLA_NODES (scripts/test starts a server)")
        });
        ScyllaSettings {
            nodes: nodes.split(',').map(str::to_owned).collect(),
            keyspace: format!("{prefix}_{}", uuid::Uuid::new_v4().simple()),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
        }
    }

    /// Two stores on one keyspace, as two nodes acting on one booking: a change decided on
    /// a version another node has moved past is refused (nothing of it written, no seq
    /// taken), and a change decided by a node that died before placing it is placed by the
    /// timekeeper's sweep.
    #[tokio::test]
    async fn a_change_on_an_old_version_is_refused_and_a_dead_nodes_decision_is_placed() {
        use crate::domain::booking::{Customer, NewBooking, Slot};
        use crate::domain::event::EventKind;
        use crate::domain::status::Status;

        let settings = settings("fence");
        let one = ScyllaStore::connect(&settings).await.unwrap();
        let two = ScyllaStore::connect(&settings).await.unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let new = NewBooking {
            user: Customer {
                name: "Sari".into(),
                phone: "081234".into(),
                email: "s@x.id".into(),
            },
            outlet_id: OutletId::new(),
            booth_id: None,
            booking_time: now,
            amount: Some(10_000),
            paid: false,
        };
        let (created, events) = new.into_booking(
            BookingId::new(),
            "qr".into(),
            now,
            &SystemConfig::default(),
            10_000,
        );
        let id = created.id;
        let claim = SlotClaim {
            outlet_id: created.outlet_id,
            booth_id: None,
            slot: Slot::of(now, chrono::Duration::minutes(15)),
            duration: chrono::Duration::minutes(15),
            capacity: 1,
        };
        one.commit(Change {
            booking: Some(BookingWrite::Create(created.clone(), claim)),
            events,
            ..Change::default()
        })
        .await
        .unwrap();
        let update = |booking: &Booking, status: Status, kind: EventKind| {
            let mut next = booking.clone();
            next.status = status;
            next.version += 1;
            Change {
                events: vec![next.event(kind, now)],
                booking: Some(BookingWrite::Update(next)),
                ..Change::default()
            }
        };
        let seen_by_one = one.booking(id).await.unwrap().unwrap();
        let seen_by_two = two.booking(id).await.unwrap().unwrap();
        assert_eq!((seen_by_one.version, seen_by_two.version), (1, 1));
        one.commit(update(
            &seen_by_one,
            Status::AwaitingCustomer,
            EventKind::PaymentConfirmed,
        ))
        .await
        .unwrap();
        let late = update(&seen_by_two, Status::Overridden, EventKind::SessionOverride);
        assert!(matches!(two.commit(late).await, Err(StoreError::Conflict)));
        let fresh = two.booking(id).await.unwrap().unwrap();
        assert_eq!((fresh.status, fresh.version), (Status::AwaitingCustomer, 2));
        two.commit(update(
            &fresh,
            Status::Overridden,
            EventKind::SessionOverride,
        ))
        .await
        .unwrap();
        let kinds = |events: &[StoredEvent]| -> Vec<(u64, EventKind)> {
            events.iter().map(|e| (e.seq, e.event.event)).collect()
        };
        let logged = one.events_after(Stream::All, 0, 100).await.unwrap();
        assert_eq!(
            kinds(&logged),
            [
                (1, EventKind::BookingCreated),
                (2, EventKind::PaymentConfirmed),
                (3, EventKind::SessionOverride)
            ],
            "the refused change left nothing, not even a gap"
        );

        // A node decides a change, then dies before placing it.
        let overridden = one.booking(id).await.unwrap().unwrap();
        let mut expired = overridden.clone();
        expired.status = Status::Expired;
        expired.version += 1;
        let decided = Decided {
            events: vec![expired.event(EventKind::SessionExpired, now)],
            booking: expired,
            payment: None,
            audit: None,
            origin: None,
        };
        let decision = Decision {
            booking: id,
            base: overridden.version,
            fence: None,
            doc: &to_json(&decided.booking).unwrap(),
            decided: &to_json(&decided).unwrap(),
            micros: now_micros(),
        };
        versions::intend(&one.cql, id, decision.base + 1, decision.micros)
            .await
            .unwrap();
        assert!(versions::decide(&one.cql, &decision).await.unwrap());
        let read = two.booking(id).await.unwrap().unwrap();
        assert_eq!(read.status, Status::Expired, "decided is what it is");
        assert_eq!(two.events_after(Stream::All, 3, 100).await.unwrap(), vec![]);
        assert_eq!(
            two.place_left_behind().await.unwrap(),
            0,
            "not before the grace"
        );
        tokio::time::sleep(Duration::from_micros(PLACE_GRACE_MICROS as u64 + 200_000)).await;
        // The timekeeper's sweep places it.
        assert_eq!(two.place_left_behind().await.unwrap(), 1);
        assert_eq!(two.place_left_behind().await.unwrap(), 0, "once");
        let read = two.booking(id).await.unwrap().unwrap();
        assert_eq!((read.status, read.version), (Status::Expired, 4));
        let placed = two.events_after(Stream::All, 3, 100).await.unwrap();
        assert_eq!(kinds(&placed), [(4, EventKind::SessionExpired)]);
        let listed: Booking = two
            .doc(
                "SELECT doc FROM {ks}.bookings WHERE id = ?",
                text(id.to_string()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            listed.status,
            Status::Expired,
            "the booking row is placed too"
        );

        // A booking stored before the version log (version 0): its first change is decided
        // on the absence of a version, once.
        let mut legacy = created.clone();
        legacy.id = BookingId::new();
        legacy.version = 0;
        one.cql
            .exec(
                "INSERT INTO {ks}.bookings (id, doc) VALUES (?, ?)",
                vec![text(legacy.id.to_string()), text(to_json(&legacy).unwrap())],
            )
            .await
            .unwrap();
        let read = two.booking(legacy.id).await.unwrap().unwrap();
        assert_eq!(read.version, 0);
        let first = update(&read, Status::AwaitingCustomer, EventKind::PaymentConfirmed);
        let second = update(&read, Status::Overridden, EventKind::SessionOverride);
        one.commit(first).await.unwrap();
        assert!(matches!(
            two.commit(second).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(two.booking(legacy.id).await.unwrap().unwrap().version, 1);

        // Leases: `one` acts for the legacy booking under token 1, then `two` takes over with
        // token 2 and raises it; from then on `one` can commit nothing for it.
        let fenced = |change: Change, fence| Change {
            fence: Some(fence),
            ..change
        };
        assert!(
            !one.raise_fence(legacy.id, 1).await.unwrap(),
            "never raised"
        );
        let read = one.booking(legacy.id).await.unwrap().unwrap();
        one.commit(fenced(
            update(&read, Status::Arrived, EventKind::SessionApproved),
            1,
        ))
        .await
        .unwrap();
        assert!(
            two.raise_fence(legacy.id, 2).await.unwrap(),
            "raised over 1"
        );
        let read = one.booking(legacy.id).await.unwrap().unwrap();
        let stale = fenced(
            update(&read, Status::Overridden, EventKind::SessionOverride),
            1,
        );
        assert!(matches!(one.commit(stale).await, Err(StoreError::Conflict)));
        assert!(matches!(
            one.raise_fence(legacy.id, 1).await,
            Err(StoreError::Conflict)
        ));
        two.raise_fence(legacy.id, 2).await.unwrap();
        let current = fenced(
            update(&read, Status::Overridden, EventKind::SessionOverride),
            2,
        );
        two.commit(current).await.unwrap();
        let read = two.booking(legacy.id).await.unwrap().unwrap();
        assert_eq!((read.status, read.version), (Status::Overridden, 3));
        one.cql
            .ddl(&format!("DROP KEYSPACE IF EXISTS {}", settings.keyspace))
            .await
            .unwrap();
    }

    /// Two stores on one keyspace, as two nodes: their seqs never collide, a range taken for
    /// a change that is not written is given back when nobody took seqs after it, and a
    /// stream another node holds past the deadline answers busy, not late.
    #[tokio::test]
    async fn two_nodes_take_seqs_without_collision_and_give_back_unused_ones() {
        let settings = settings("seqs");
        let one = ScyllaStore::connect(&settings).await.unwrap();
        let two = ScyllaStore::connect(&settings).await.unwrap();
        let soon = || tokio::time::Instant::now() + SEQ_DEADLINE;
        let mut firsts = vec![];
        for round in 0..5 {
            let (a, b) = tokio::join!(
                one.take_seqs(Stream::All, 3, soon()),
                two.take_seqs(Stream::All, 2, soon())
            );
            firsts.push((a.unwrap(), 3));
            firsts.push((b.unwrap(), 2));
            assert_eq!(
                one.stream_head(Stream::All).await.unwrap(),
                25 * (round + 1) / 5
            );
        }
        let mut taken: Vec<u64> = firsts
            .iter()
            .flat_map(|(first, count)| *first..*first + *count)
            .collect();
        taken.sort_unstable();
        assert_eq!(taken, (1..=25).collect::<Vec<_>>(), "every seq once");

        let first = one.take_seqs(Stream::All, 4, soon()).await.unwrap();
        assert_eq!(first, 26);
        one.give_back(Stream::All, first, 4).await;
        assert_eq!(one.stream_head(Stream::All).await.unwrap(), 25);
        assert_eq!(two.take_seqs(Stream::All, 1, soon()).await.unwrap(), 26);
        // Seqs taken after a range keep it: it stays (a gap readers skip).
        let first = one.take_seqs(Stream::All, 2, soon()).await.unwrap();
        two.take_seqs(Stream::All, 1, soon()).await.unwrap();
        one.give_back(Stream::All, first, 2).await;
        assert_eq!(one.stream_head(Stream::All).await.unwrap(), 29);

        let past = tokio::time::Instant::now();
        assert!(matches!(
            one.take_seqs(Stream::All, 1, past).await,
            Err(StoreError::Unavailable(_))
        ));
        one.cql
            .ddl(&format!("DROP KEYSPACE IF EXISTS {}", settings.keyspace))
            .await
            .unwrap();
    }

    /// A shard's lease: taken by one node, renewed by it only, given up or expired (its
    /// TTL), then taken by another with the next token; a node that read a shard's lease
    /// before another took it does not take it.
    #[tokio::test]
    async fn a_shard_lease_is_held_by_one_node_and_taken_over_with_a_newer_token() {
        let settings = settings("lease");
        let store = ScyllaStore::connect(&settings).await.unwrap();
        let (one, two) = (NodeId::new(), NodeId::new());
        let ttl = Duration::from_secs(2);
        let free = ShardLease {
            shard: 5,
            owner: None,
            token: None,
        };
        assert_eq!(store.leases().await.unwrap(), vec![]);
        assert_eq!(store.take_lease(&free, one, ttl).await.unwrap(), Some(1));
        assert_eq!(store.take_lease(&free, two, ttl).await.unwrap(), None);
        let held = ShardLease {
            owner: Some(one),
            token: Some(1),
            ..free.clone()
        };
        assert_eq!(store.leases().await.unwrap(), vec![held]);
        assert!(store.renew_lease(5, one, 1, ttl).await.unwrap());
        assert!(!store.renew_lease(5, two, 1, ttl).await.unwrap());
        assert!(!store.renew_lease(5, one, 2, ttl).await.unwrap());
        // Given up: taken at once, with the next token.
        assert!(store.release_lease(5, one, 1).await.unwrap());
        let released = store.leases().await.unwrap().remove(0);
        assert_eq!((released.owner, released.token), (None, Some(1)));
        assert_eq!(
            store.take_lease(&released, two, ttl).await.unwrap(),
            Some(2)
        );
        assert!(!store.renew_lease(5, one, 1, ttl).await.unwrap());
        // Not renewed: it expires, and the renewal comes too late.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let expired = store.leases().await.unwrap().remove(0);
        assert_eq!((expired.owner, expired.token), (None, Some(2)));
        assert!(!store.renew_lease(5, two, 2, ttl).await.unwrap());
        assert_eq!(store.take_lease(&expired, one, ttl).await.unwrap(), Some(3));
        assert_eq!(
            store.take_lease(&expired, two, ttl).await.unwrap(),
            None,
            "read before the other took it"
        );
        store
            .cql
            .ddl(&format!("DROP KEYSPACE IF EXISTS {}", settings.keyspace))
            .await
            .unwrap();
    }

    /// A keyspace left by a hub of schema version 2 keeps its logins and payments, which the
    /// lookups added since find (the migrations fill their indexes).
    #[tokio::test]
    async fn a_keyspace_of_schema_two_is_upgraded_with_its_records() {
        let settings = settings("upgrade");
        let user = UserId::new();
        let booking = BookingId::new();
        {
            let old = ScyllaStore::connect_at(&settings, 2).await.unwrap();
            old.cql
                .exec(
                    "INSERT INTO {ks}.login_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
                    vec![
                        text("old"),
                        text(user.to_string()),
                        ts(DateTime::<Utc>::MAX_UTC),
                    ],
                )
                .await
                .unwrap();
            let payment = serde_json::json!({
                "event_id": "evt-old", "booking_id": booking, "outlet_id": null,
                "status": "SUCCESS", "amount": 1, "currency": "IDR", "raw": "{}",
                "body_hash": "h", "outcome": { "outcome": "UNKNOWN_BOOKING" },
                "refund_required": true, "received_at": "2026-01-01T00:00:00Z"
            });
            old.cql
                .exec(
                    "INSERT INTO {ks}.payments (event_id, doc) VALUES (?, ?)",
                    vec![text("evt-old"), text(payment.to_string())],
                )
                .await
                .unwrap();
        }
        let store = ScyllaStore::connect(&settings).await.unwrap();
        let found = store
            .payment_by_id(PaymentId::of_event("evt-old"))
            .await
            .unwrap()
            .expect("an old payment is found by its id");
        assert_eq!(found.event_id, "evt-old");
        assert_eq!(store.delete_logins_of(user, None).await.unwrap(), ["old"]);
        assert_eq!(
            store.login("old", DateTime::UNIX_EPOCH).await.unwrap(),
            None
        );
    }
}
