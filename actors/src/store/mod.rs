//! Durable records behind one trait, shaped by access paths: bookings by id and by outlet +
//! status + time, events by stream + seq, payments by provider event id. Every state change
//! is one [`Change`], committed atomically with its events before anyone is answered.

pub mod embedded;
pub mod scylla;
#[cfg(test)]
mod suite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::booking::{Booking, SlotClaim};
use crate::domain::config::SystemConfig;
use crate::domain::event::{Event, StoredEvent, Stream};
use crate::domain::ids::{BookingId, BoothId, NodeId, OutletId, PaymentId, UserId};
use crate::domain::payment::Payment;
use crate::domain::records::{AuditEntry, AuditKind, Booth, DeadLetter, NodeInfo, Outlet, User};
use crate::domain::status::Status;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the slot is taken")]
    SlotTaken,
    #[error("the e-mail address is taken")]
    EmailTaken,
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("bad cursor")]
    BadCursor,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The booking changed (on another node) since the version a change was decided on.
    #[error("the booking changed since it was read")]
    Conflict,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One atomic write: a booking (new with a slot claim, or updated), a payment, an audit
/// entry, a config change, and the events they produce, each given its seq in its streams.
#[derive(Clone, Debug, Default)]
pub struct Change {
    pub booking: Option<BookingWrite>,
    /// The token of the lease under which a node of a cluster changes the booking (contract
    /// §8): the CQL store refuses the change ([`StoreError::Conflict`]) unless it is the
    /// booking's fence, the token its current holder raised ([`Store::raise_fence`]).
    pub fence: Option<i64>,
    /// A new payment notification (its event id is claimed once).
    pub payment: Option<Payment>,
    /// A stored payment marked refunded.
    pub refund: Option<Payment>,
    pub audit: Option<AuditEntry>,
    pub config: Option<SystemConfig>,
    pub presence: Option<Presence>,
    pub dead_letter: Option<DeadLetter>,
    pub events: Vec<Event>,
}

/// A booth going online or offline, recorded on its booth record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    pub booth_id: BoothId,
    pub online: bool,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub enum BookingWrite {
    /// A new booking that claims its slot: refused with [`StoreError::SlotTaken`].
    Create(Booking, SlotClaim),
    Update(Booking),
    /// A booking brought back to a live status (by an override) that claims its slot again:
    /// refused with [`StoreError::SlotTaken`] when other live bookings hold it now.
    Reclaim(Booking, SlotClaim),
}

/// A shard's lease as stored (contract §8): its holder, none when the lease expired or was
/// given up, and the token of the last node that took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardLease {
    pub shard: u32,
    pub owner: Option<NodeId>,
    pub token: Option<i64>,
}

/// One committed change as the other nodes of a cluster see it: its events at their places,
/// keyed by the first seq it took on `all`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fanned {
    /// The change's first seq on `all`.
    pub seq: u64,
    /// The node that committed it.
    pub origin: NodeId,
    pub events: Vec<StoredEvent>,
}

impl Fanned {
    /// The seq on `all` just after this change's.
    pub fn next(&self) -> u64 {
        let on_all = self
            .events
            .iter()
            .filter(|e| e.stream == Stream::All)
            .count() as u64;
        self.seq + on_all.max(1)
    }
}

/// Tokens that stopped working, as a node tells the others (contract §8 and §7's 4401): each
/// node closes its own sockets of them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// These login tokens (their hashes) stopped working.
    Tokens { hashes: Vec<String>, reason: String },
    /// Every token of this booth stopped working.
    Booth { booth: BoothId, reason: String },
    /// This user's role or outlet changed: its sockets reconnect with the new scope.
    Rescope { user: UserId },
}

/// A revocation as announced: by whom, when, under which id.
#[derive(Clone, Debug, PartialEq)]
pub struct Announced {
    pub id: String,
    pub origin: NodeId,
    pub at: DateTime<Utc>,
    pub revocation: Revocation,
}

/// What several nodes on one store share beyond [`Store`] (contract §8): membership by
/// heartbeat and the log of changes they tail. Only the CQL store has it; the embedded store
/// is one process's file.
#[async_trait]
pub trait ClusterStore: Send + Sync + std::fmt::Debug {
    /// From now on, every committed change is also written to the fan-out log as `origin`'s.
    fn fan_out_as(&self, origin: NodeId);
    /// Records `node` as live for `ttl` from now (its heartbeat).
    async fn heartbeat(&self, node: &NodeInfo, ttl: std::time::Duration) -> Result<(), StoreError>;
    /// Takes `node` out of the membership at once (a clean shutdown).
    async fn leave(&self, node: NodeId) -> Result<(), StoreError>;
    /// The live nodes: those whose last heartbeat has not expired.
    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError>;
    /// The nodes that recorded booths online and have not had them taken back.
    async fn nodes_with_booths(&self) -> Result<Vec<NodeId>, StoreError>;
    /// The booths `node` recorded online (some may have reconnected elsewhere since).
    async fn booths_of(&self, node: NodeId) -> Result<Vec<BoothId>, StoreError>;
    /// Makes `to` the holder of `booth` if `from` (or `to`) still is (compare-and-set): the
    /// node that marks a dead node's booth offline takes it first, so that a booth that
    /// reconnected elsewhere meanwhile is left alone.
    async fn take_booth(
        &self,
        booth: BoothId,
        from: NodeId,
        to: NodeId,
    ) -> Result<bool, StoreError>;
    /// Forgets which booths `node` held (once they are marked offline).
    async fn forget_booths_of(&self, node: NodeId) -> Result<(), StoreError>;
    /// Every shard's lease (shards never taken are left out).
    async fn leases(&self) -> Result<Vec<ShardLease>, StoreError>;
    /// Takes `seen.shard` for `node` for `ttl`, with the token after `seen.token`, if it is
    /// still as `seen` and has no holder (compare-and-set): answers the new token.
    async fn take_lease(
        &self,
        seen: &ShardLease,
        node: NodeId,
        ttl: std::time::Duration,
    ) -> Result<Option<i64>, StoreError>;
    /// Renews `node`'s lease of `shard` under `token` for `ttl` from now, if it still holds
    /// it (compare-and-set): `false` when the lease expired or was taken over.
    async fn renew_lease(
        &self,
        shard: u32,
        node: NodeId,
        token: i64,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;
    /// Gives up `node`'s lease of `shard` under `token` at once (compare-and-set).
    async fn release_lease(&self, shard: u32, node: NodeId, token: i64)
    -> Result<bool, StoreError>;
    /// Places the booking changes a node decided and did not place (it died): answers how
    /// many (the timekeeper's sweep).
    async fn place_left_behind(&self) -> Result<usize, StoreError>;
    /// Tells the other nodes that tokens stopped working.
    async fn announce(&self, announced: &Announced) -> Result<(), StoreError>;
    /// The revocations announced at `since` or later, oldest first.
    async fn revocations_since(&self, since: DateTime<Utc>) -> Result<Vec<Announced>, StoreError>;
    /// Fanned-out changes whose first seq on `all` is `from` or later and at most `upto`, in
    /// seq order, at most `limit`.
    async fn fanned_from(
        &self,
        from: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<Fanned>, StoreError>;
}

/// A page of a listing; `next_cursor` is opaque and `None` on the last page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct BookingFilter {
    pub outlet_id: Option<OutletId>,
    pub status: Option<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// `None`: every outlet, config changes included (super admins).
    pub outlet_id: Option<OutletId>,
    pub booking_id: Option<BookingId>,
    pub action: Option<AuditKind>,
    pub actor_id: Option<UserId>,
    /// Entries at or after `from`, at or before `to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default)]
pub struct DeadLetterFilter {
    pub outlet_id: Option<OutletId>,
    pub booth_id: Option<BoothId>,
}

#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub outlet_id: Option<OutletId>,
    pub refund_required: Option<bool>,
    pub booking_id: Option<BookingId>,
}

/// A listing request: at most `limit` items after `cursor`.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Answers when the store can serve reads and writes.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Commits one change atomically and durably; returns the events with their seqs.
    async fn commit(&self, change: Change) -> Result<Vec<StoredEvent>, StoreError>;

    async fn booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError>;
    /// Makes `fence`, the token of a lease just taken, the one every commit of `booking` must
    /// carry from now on (contract §8): a node with an older lease can no longer commit for
    /// it. Answers whether an older token was there (the booking may have changed since it
    /// was read); refused with [`StoreError::Conflict`] when a newer token was raised
    /// already. The embedded store is written by one process (it cannot be shared by nodes),
    /// so it has no other holder to fence and takes this as done.
    async fn raise_fence(&self, booking: BookingId, fence: i64) -> Result<bool, StoreError>;
    /// Newest `booking_time` first.
    async fn list_bookings(
        &self,
        filter: &BookingFilter,
        page: &PageRequest,
    ) -> Result<Page<Booking>, StoreError>;
    /// Every live booking, for rehydrating session actors at start.
    async fn live_bookings(&self) -> Result<Vec<Booking>, StoreError>;

    async fn payment(&self, event_id: &str) -> Result<Option<Payment>, StoreError>;
    /// The payment of [`Payment::id`].
    async fn payment_by_id(&self, id: PaymentId) -> Result<Option<Payment>, StoreError>;
    /// Newest first.
    async fn list_payments(
        &self,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> Result<Page<Payment>, StoreError>;

    /// A booking's events in the order they happened (their copies on the `all` stream).
    async fn booking_events(&self, booking: BookingId) -> Result<Vec<StoredEvent>, StoreError>;

    async fn events_after(
        &self,
        stream: Stream,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// The last seq given out on `stream` (0 for a stream with no event yet).
    async fn stream_head(&self, stream: Stream) -> Result<u64, StoreError>;

    /// Newest first.
    async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, StoreError>;

    async fn system_config(&self) -> Result<Option<SystemConfig>, StoreError>;
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError>;

    // A directory change commits with its audit entry, if it has one, atomically.
    async fn create_outlet(
        &self,
        outlet: &Outlet,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    async fn update_outlet(
        &self,
        outlet: &Outlet,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    async fn outlet(&self, id: OutletId) -> Result<Option<Outlet>, StoreError>;
    async fn list_outlets(
        &self,
        only: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Outlet>, StoreError>;
    async fn outlet_ids(&self) -> Result<Vec<OutletId>, StoreError>;

    /// Refused with [`StoreError::EmailTaken`] when the e-mail address is in use.
    async fn create_user(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError>;
    /// Whether an active super admin exists.
    async fn has_super_admin(&self) -> Result<bool, StoreError>;
    /// Replaces a user's record (name, role, outlet, password hash, active); the e-mail
    /// address stays. [`StoreError::NotFound`] for an unknown user.
    async fn update_user(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), StoreError>;

    async fn create_booth(
        &self,
        booth: &Booth,
        token_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    async fn booth(&self, id: BoothId) -> Result<Option<Booth>, StoreError>;
    async fn booth_by_token(&self, token_hash: &str) -> Result<Option<Booth>, StoreError>;
    async fn list_booths(
        &self,
        outlet: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Booth>, StoreError>;
    /// The outlet's active booths (those that may serve a booking).
    async fn count_booths(&self, outlet: OutletId) -> Result<u64, StoreError>;
    /// Replaces a booth's record (name, active). [`StoreError::NotFound`] for an unknown booth.
    async fn update_booth(
        &self,
        booth: &Booth,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    /// Gives a booth a new token (its hash); the old one stops working at once.
    async fn set_booth_token(
        &self,
        booth: BoothId,
        token_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    /// Booths recorded online (after a crash, nobody recorded them going offline).
    async fn booths_online(&self) -> Result<Vec<Booth>, StoreError>;

    async fn put_login(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The user of a login token that has not expired at `now`, and when it expires.
    async fn login(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError>;
    async fn delete_login(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Ends every login of `user` but `except`; answers the hashes of the logins ended.
    async fn delete_logins_of(
        &self,
        user: UserId,
        except: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;

    /// The named secret, created from `candidate` the first time (first writer wins).
    async fn secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
}
