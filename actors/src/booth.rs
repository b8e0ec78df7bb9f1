//! The booth actor: one per booth. It owns what belongs to the device rather than to a
//! booking: how fast it may scan (a booth scanning in a loop meets 429 early), its presence
//! (`BOOTH_ONLINE` when its first connection opens, `BOOTH_OFFLINE` when its last closes), and
//! acked delivery of its stream: an event not acked is sent again with backoff, at most 5
//! times, then dead-lettered with `DELIVERY_FAILED` on the outlet stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tracing::{info, instrument, warn};

use crate::clock::until;
use crate::context::HubContext;
use crate::domain::event::{Event, EventKind, Stream};
use crate::domain::ids::{AuditId, BoothId, OutletId};
use crate::domain::rate::{RateLimit, TokenBucket};
use crate::domain::records::DeadLetter;
use crate::metrics::{
    BOOTHS_ONLINE, EVENTS_DEAD_LETTERED, EVENTS_UNACKED_OVERFLOW, SCANS_THROTTLED,
};
use crate::router::{Listener, ListenerId, Published};
use crate::sequencer::Sequencer;
use crate::store::{Change, Presence};

/// Deliveries of one event before it is dead-lettered: the first and 5 retries.
pub const MAX_DELIVERIES: u32 = 6;
/// The longest wait between two deliveries.
const MAX_BACKOFF_FACTOR: u32 = 8;

pub enum BoothMsg {
    /// May the booth scan now? `Err(seconds)` says when it may again.
    Scan {
        reply: RpcReplyPort<Result<(), u64>>,
    },
    Snapshot {
        reply: RpcReplyPort<BoothSnapshot>,
    },
    /// A connection of the booth opened; unacked events are sent again through its
    /// sequencer.
    Connected {
        conn: ActorId,
        sequencer: Arc<Sequencer>,
    },
    Disconnected {
        conn: ActorId,
    },
    /// An event of the booth's stream (from the stream router).
    Deliver(Arc<Published>),
    /// The booth acked its stream up to `seq`.
    Ack {
        seq: u64,
    },
    /// A redelivery may be due.
    RetryDue,
}

impl BoothMsg {
    /// What the message is, for its span.
    fn name(&self) -> &'static str {
        match self {
            BoothMsg::Scan { .. } => "scan",
            BoothMsg::Snapshot { .. } => "snapshot",
            BoothMsg::Connected { .. } => "connected",
            BoothMsg::Disconnected { .. } => "disconnected",
            BoothMsg::Deliver(_) => "deliver",
            BoothMsg::Ack { .. } => "ack",
            BoothMsg::RetryDue => "retry_due",
        }
    }
}

/// What a booth's connections may tell its booth actor, and how the router hands it the
/// booth stream's events: other actors hold this, not the actor's messages.
#[derive(Clone, Debug)]
pub struct BoothHandle(ActorRef<BoothMsg>);

impl BoothHandle {
    pub fn new(actor: ActorRef<BoothMsg>) -> Self {
        BoothHandle(actor)
    }

    pub fn connected(&self, conn: ActorId, sequencer: Arc<Sequencer>) {
        let _ = self.0.cast(BoothMsg::Connected { conn, sequencer });
    }

    pub fn disconnected(&self, conn: ActorId) {
        let _ = self.0.cast(BoothMsg::Disconnected { conn });
    }

    /// The booth acked its stream up to `seq`.
    pub fn acked(&self, seq: u64) {
        let _ = self.0.cast(BoothMsg::Ack { seq });
    }
}

impl Listener for BoothHandle {
    fn deliver(&self, event: &Arc<Published>) {
        let _ = self.0.cast(BoothMsg::Deliver(Arc::clone(event)));
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BoothSnapshot {
    pub booth_id: BoothId,
    pub scans: u64,
    pub throttled: u64,
    pub connections: usize,
    pub unacked: Vec<(u64, u32)>,
}

pub struct BoothActor;

pub struct BoothArgs {
    pub booth_id: BoothId,
    pub outlet_id: OutletId,
    pub ctx: Arc<HubContext>,
    pub scan_limit: RateLimit,
    /// The first wait before a redelivery; it doubles each time (up to 8×).
    pub retry_base: Duration,
    /// Unacked events kept at most; beyond, the oldest is dead-lettered (a booth offline for
    /// long cannot make its actor hold its whole stream: it resumes from the log anyway).
    pub max_unacked: usize,
}

/// An event of the booth's stream that is not acked yet.
struct Pending {
    event: Arc<Published>,
    deliveries: u32,
    /// When to send it again; `None` while the booth has no connection.
    due: Option<DateTime<Utc>>,
}

pub struct BoothState {
    args: BoothArgs,
    bucket: TokenBucket,
    scans: u64,
    throttled: u64,
    /// The booth's open connections, by their actor.
    connections: HashMap<ActorId, Arc<Sequencer>>,
    pending: BTreeMap<u64, Pending>,
    timer: Option<JoinHandle<Result<(), ractor::MessagingErr<BoothMsg>>>>,
    listener: ListenerId,
}

impl Actor for BoothActor {
    type Msg = BoothMsg;
    type State = BoothState;
    type Arguments = BoothArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BoothMsg>,
        args: BoothArgs,
    ) -> Result<BoothState, ActorProcessingErr> {
        let bucket = TokenBucket::full(args.scan_limit, args.ctx.clock.now());
        let stream = Stream::Booth(args.booth_id);
        let listener = args
            .ctx
            .router
            .listen(stream, Arc::new(BoothHandle::new(myself)));
        Ok(BoothState {
            args,
            bucket,
            scans: 0,
            throttled: 0,
            connections: HashMap::new(),
            pending: BTreeMap::new(),
            timer: None,
            listener,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<BoothMsg>,
        state: &mut BoothState,
    ) -> Result<(), ActorProcessingErr> {
        let stream = Stream::Booth(state.args.booth_id);
        state.args.ctx.router.unlisten(stream, state.listener);
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    #[instrument(name = "booth", skip_all, fields(booth_id = %state.args.booth_id, msg = msg.name()))]
    async fn handle(
        &self,
        myself: ActorRef<BoothMsg>,
        msg: BoothMsg,
        state: &mut BoothState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BoothMsg::Scan { reply } => {
                let _ = reply.send(state.scan());
            }
            BoothMsg::Snapshot { reply } => {
                let _ = reply.send(state.snapshot());
            }
            BoothMsg::Connected { conn, sequencer } => state.connected(conn, sequencer).await,
            BoothMsg::Disconnected { conn } => state.disconnected(conn).await,
            BoothMsg::Deliver(event) => state.track(event).await,
            BoothMsg::Ack { seq } => state.ack(seq),
            BoothMsg::RetryDue => state.retry().await,
        }
        state.arm(&myself);
        Ok(())
    }
}

impl BoothState {
    fn now(&self) -> DateTime<Utc> {
        self.args.ctx.clock.now()
    }

    fn scan(&mut self) -> Result<(), u64> {
        let now = self.now();
        let admitted = self.bucket.take(self.args.scan_limit, now);
        match admitted {
            Ok(()) => self.scans += 1,
            Err(_) => {
                self.throttled += 1;
                metrics::counter!(SCANS_THROTTLED).increment(1);
            }
        }
        admitted
    }

    fn snapshot(&self) -> BoothSnapshot {
        BoothSnapshot {
            booth_id: self.args.booth_id,
            scans: self.scans,
            throttled: self.throttled,
            connections: self.connections.len(),
            unacked: self
                .pending
                .iter()
                .map(|(seq, p)| (*seq, p.deliveries))
                .collect(),
        }
    }

    /// The wait after the `deliveries`-th delivery: base, 2×, 4×, 8×, 8×…
    fn backoff(&self, deliveries: u32) -> chrono::Duration {
        let factor = 1u32 << deliveries.saturating_sub(1).min(3);
        let wait = self.args.retry_base * factor.min(MAX_BACKOFF_FACTOR);
        chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::seconds(1))
    }

    /// Records presence as an event (and on the booth record), atomically.
    async fn presence(&self, online: bool) {
        let now = self.now();
        let kind = if online {
            EventKind::BoothOnline
        } else {
            EventKind::BoothOffline
        };
        let event = Event {
            event: kind,
            booking_id: None,
            booth_id: Some(self.args.booth_id),
            outlet_id: Some(self.args.outlet_id),
            status: None,
            at: now,
            data: serde_json::Value::Null,
        };
        let presence = Presence {
            booth_id: self.args.booth_id,
            online,
            at: now,
        };
        let change = Change {
            presence: Some(presence),
            events: vec![event],
            ..Change::default()
        };
        self.args.ctx.presence.insert(self.args.booth_id, presence);
        match self.args.ctx.store.commit(change).await {
            Ok(stored) => self.args.ctx.publish(stored),
            Err(crate::store::StoreError::Conflict) => {
                info!(booth_id = %self.args.booth_id, "the booth is held by another node now; its presence stays");
            }
            Err(err) => {
                warn!(booth_id = %self.args.booth_id, error = %err, "presence not recorded")
            }
        }
    }

    async fn connected(&mut self, conn: ActorId, sequencer: Arc<Sequencer>) {
        let first = self.connections.is_empty();
        self.connections.insert(conn, sequencer);
        if first {
            metrics::gauge!(BOOTHS_ONLINE).increment(1.0);
            self.presence(true).await;
            // Events waiting for a connection count as delivered by the resume or the live
            // push; they are sent again if not acked in time.
            let now = self.now();
            let mut resumed = vec![];
            for (seq, pending) in &self.pending {
                if pending.due.is_none() {
                    resumed.push((*seq, now + self.backoff(pending.deliveries.max(1))));
                }
            }
            for (seq, due) in resumed {
                if let Some(pending) = self.pending.get_mut(&seq) {
                    pending.deliveries = pending.deliveries.max(1);
                    pending.due = Some(due);
                }
            }
        }
    }

    async fn disconnected(&mut self, conn: ActorId) {
        if self.connections.remove(&conn).is_none() {
            return;
        }
        if self.connections.is_empty() {
            metrics::gauge!(BOOTHS_ONLINE).decrement(1.0);
            for pending in self.pending.values_mut() {
                pending.due = None;
            }
            self.presence(false).await;
        }
    }

    async fn track(&mut self, event: Arc<Published>) {
        let seq = event.event.seq;
        let connected = !self.connections.is_empty();
        if !connected && self.args.ctx.is_clustered() {
            // In a cluster the booth may be connected to another node, whose booth actor
            // tracks it; here it would only pile up. When the booth connects here it resumes
            // from its last seq, from the log.
            return;
        }
        let due = connected.then(|| self.now() + self.backoff(1));
        let deliveries = u32::from(connected);
        self.pending.insert(
            seq,
            Pending {
                event,
                deliveries,
                due,
            },
        );
        while self.pending.len() > self.args.max_unacked {
            let Some((_, oldest)) = self.pending.pop_first() else {
                break;
            };
            metrics::counter!(EVENTS_UNACKED_OVERFLOW).increment(1);
            self.dead_letter(oldest).await;
        }
    }

    fn ack(&mut self, seq: u64) {
        let still_pending = self.pending.split_off(&(seq + 1));
        self.pending = still_pending;
    }

    /// Sends again what is due, and dead-letters what was sent six times unacked.
    async fn retry(&mut self) {
        let now = self.now();
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due.is_some_and(|at| at <= now))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in due {
            let Some(pending) = self.pending.get(&seq) else {
                continue;
            };
            if pending.deliveries >= MAX_DELIVERIES {
                if let Some(pending) = self.pending.remove(&seq) {
                    self.dead_letter(pending).await;
                }
                continue;
            }
            for sequencer in self.connections.values() {
                sequencer.redeliver(Arc::clone(&pending.event));
            }
            let deliveries = pending.deliveries + 1;
            let next_due = now + self.backoff(deliveries);
            if let Some(pending) = self.pending.get_mut(&seq) {
                pending.deliveries = deliveries;
                pending.due = Some(next_due);
            }
        }
    }

    async fn dead_letter(&self, pending: Pending) {
        let now = self.now();
        let stored = &pending.event.event;
        let letter = DeadLetter {
            id: AuditId::new(),
            booth_id: self.args.booth_id,
            outlet_id: self.args.outlet_id,
            stream: stored.stream,
            seq: stored.seq,
            event: stored.event.clone(),
            deliveries: pending.deliveries,
            at: now,
        };
        let failed = Event {
            event: EventKind::DeliveryFailed,
            booking_id: stored.event.booking_id,
            booth_id: Some(self.args.booth_id),
            outlet_id: Some(self.args.outlet_id),
            status: stored.event.status,
            at: now,
            data: serde_json::json!({
                "stream": stored.stream,
                "seq": stored.seq,
                "event": stored.event.event,
                "deliveries": pending.deliveries,
            }),
        };
        let change = Change {
            dead_letter: Some(letter),
            events: vec![failed],
            ..Change::default()
        };
        match self.args.ctx.store.commit(change).await {
            Ok(events) => {
                metrics::counter!(EVENTS_DEAD_LETTERED).increment(1);
                info!(booth_id = %self.args.booth_id, seq = stored.seq, "event dead-lettered");
                self.args.ctx.publish(events);
            }
            Err(err) => {
                warn!(booth_id = %self.args.booth_id, error = %err, "dead letter not recorded")
            }
        }
    }

    /// Arms the timer for the earliest redelivery.
    fn arm(&mut self, myself: &ActorRef<BoothMsg>) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        let Some(next) = self.pending.values().filter_map(|p| p.due).min() else {
            return;
        };
        let delay = until(self.now(), next) + Duration::from_millis(1);
        self.timer = Some(myself.send_after(delay, || BoothMsg::RetryDue));
    }
}

/// Records a booth offline that no connection of this node holds: at start for booths a
/// lone hub had recorded online, and in a cluster for the booths of a node that died.
pub async fn record_offline(
    ctx: &HubContext,
    booth_id: BoothId,
    outlet_id: OutletId,
    reason: &str,
) -> Result<(), crate::error::HubError> {
    let now = ctx.clock.now();
    let event = Event {
        event: EventKind::BoothOffline,
        booking_id: None,
        booth_id: Some(booth_id),
        outlet_id: Some(outlet_id),
        status: None,
        at: now,
        data: serde_json::json!({ "reason": reason }),
    };
    let presence = Presence {
        booth_id,
        online: false,
        at: now,
    };
    let change = Change {
        presence: Some(presence),
        events: vec![event],
        ..Change::default()
    };
    let stored = ctx.store.commit(change).await?;
    ctx.presence.insert(booth_id, presence);
    ctx.publish(stored);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A booth actor in the test world: acked delivery, backoff, dead letters.

    use std::time::Duration;

    use ractor::rpc::CallResult;
    use tokio::sync::{mpsc, watch};

    use crate::booth::BoothMsg;
    use crate::connection::{ClientRequest, Turn};
    use crate::context::HubSettings;
    use crate::domain::event::{EventKind, Stream};
    use crate::store::{DeadLetterFilter, PageRequest};
    use crate::world::*;

    #[tokio::test(start_paused = true)]
    async fn unacked_booth_events_are_sent_six_times_then_dead_lettered() {
        let world = world(1).await;
        let booth = world.booths[0];
        let booth_id = booth.booth_id().unwrap();
        let mut failures = world.hub.listen(Stream::Outlet(world.outlet));
        let (tx, mut rx) = mpsc::channel(256);
        let (close, _closed) = watch::channel(None);
        let _conn = world.hub.connect(booth, tx, close).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut booking = new_booking(&world, 0, true);
        booking.booth_id = Some(booth_id);
        world
            .hub
            .create_booking(Some(&world.admin), booking)
            .await
            .unwrap();
        // Backoff 1, 2, 4, 8, 8 s between the six deliveries, then 8 s more before giving up.
        tokio::time::sleep(Duration::from_secs(40)).await;
        let received = drain(&mut rx);
        let per_seq = |seq: u64| seqs(&received).iter().filter(|s| **s == seq).count();
        assert_eq!(
            (per_seq(1), per_seq(2)),
            (6, 6),
            "BOOKING_CREATED and PAYMENT_CONFIRMED"
        );
        let filter = DeadLetterFilter {
            booth_id: Some(booth_id),
            ..DeadLetterFilter::default()
        };
        let page = PageRequest {
            limit: 10,
            cursor: None,
        };
        let letters = world.store.list_dead_letters(&filter, &page).await.unwrap();
        assert_eq!(letters.items.len(), 2);
        let mut failed = 0;
        while let Ok(published) = failures.try_recv() {
            failed += usize::from(published.event.event.event == EventKind::DeliveryFailed);
        }
        assert_eq!(failed, 2, "DELIVERY_FAILED on the outlet stream for each");
    }

    /// 20 paid bookings of a booth no connection of this node holds: what its actor keeps
    /// unacked (seqs) and how many dead letters it wrote, with `max_unacked` 16.
    async fn offline_booth_after_twenty_bookings(clustered: bool) -> (Vec<u64>, usize) {
        let settings = HubSettings {
            max_unacked: 16,
            clustered,
            ..HubSettings::default()
        };
        let world = world_with(1, settings).await;
        let booth_id = world.booths[0].booth_id().unwrap();
        for n in 0..20 {
            let mut booking = new_booking(&world, 20 * n, true);
            booking.booth_id = Some(booth_id);
            world
                .hub
                .create_booking(Some(&world.admin), booking)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let snapshot = world
            .hub
            .children()
            .booth(booth_id)
            .await
            .unwrap()
            .call(|reply| BoothMsg::Snapshot { reply }, None)
            .await
            .unwrap();
        let CallResult::Success(snapshot) = snapshot else {
            panic!("no snapshot");
        };
        let filter = DeadLetterFilter {
            booth_id: Some(booth_id),
            ..DeadLetterFilter::default()
        };
        let page = PageRequest {
            limit: 100,
            cursor: None,
        };
        let letters = world.store.list_dead_letters(&filter, &page).await.unwrap();
        let kept = snapshot.unacked.iter().map(|(seq, _)| *seq).collect();
        (kept, letters.items.len())
    }

    #[tokio::test(start_paused = true)]
    async fn an_offline_booth_keeps_at_most_max_unacked_events_and_dead_letters_the_oldest() {
        // Alone: every event of the booth's stream waits for a connection; the oldest beyond
        // 16 go to the dead letters.
        let (kept, letters) = offline_booth_after_twenty_bookings(false).await;
        assert_eq!(kept, (25..=40).collect::<Vec<u64>>(), "the newest 16 of 40");
        assert_eq!(letters, 24, "the oldest went to the dead letters");
    }

    #[tokio::test(start_paused = true)]
    async fn in_a_cluster_a_booth_not_connected_here_is_not_tracked_here() {
        // In a cluster the booth may be connected to another node: nothing piles up here.
        let (kept, letters) = offline_booth_after_twenty_bookings(true).await;
        assert!(kept.is_empty(), "{kept:?}");
        assert_eq!(letters, 0, "no dead letter for a booth served elsewhere");
    }

    #[tokio::test(start_paused = true)]
    async fn an_ack_stops_redelivery() {
        let world = world(1).await;
        let booth = world.booths[0];
        let booth_id = booth.booth_id().unwrap();
        let (tx, mut rx) = mpsc::channel(256);
        let (close, _closed) = watch::channel(None);
        let conn = world.hub.connect(booth, tx, close).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut booking = new_booking(&world, 0, true);
        booking.booth_id = Some(booth_id);
        world
            .hub
            .create_booking(Some(&world.admin), booking)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let stream = Stream::Booth(booth_id);
        conn.request(
            ClientRequest::Ack {
                stream: stream.to_string(),
                seq: 2,
            },
            Turn::default(),
        );
        tokio::time::sleep(Duration::from_secs(40)).await;
        assert_eq!(
            seqs(&drain(&mut rx)),
            vec![1, 2],
            "delivered once each, acked, never again"
        );
        let snapshot = world
            .hub
            .children()
            .booth(booth_id)
            .await
            .unwrap()
            .call(|reply| BoothMsg::Snapshot { reply }, None)
            .await
            .unwrap();
        let unacked = match snapshot {
            CallResult::Success(snapshot) => snapshot.unacked,
            _ => panic!("no snapshot"),
        };
        assert!(unacked.is_empty());
    }
}
