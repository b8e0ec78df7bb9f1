//! The session actor: one per live booking. It owns the booking's state and its timer, applies
//! the status machine to every request and timer in order (so two booths scanning one QR at
//! once give exactly one `ARRIVED`), and commits each change with its events before replying.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::clock::until;
use crate::context::HubContext;
use crate::domain::access::{Principal, SessionAccess};
use crate::domain::booking::{Booking, Slot, SlotClaim};
use crate::domain::code::ErrorCode;
use crate::domain::config::SystemConfig;
use crate::domain::event::{Event, EventKind};
use crate::domain::ids::AuditId;
use crate::domain::payment::{Payment, PaymentNotice, PaymentOutcome, judge};
use crate::domain::records::{AuditEntry, AuditKind, AuditTarget};
use crate::domain::status::{Decision, OverrideTarget, Trigger, decide};
use crate::error::HubError;
use crate::metrics::{SESSION_CONFLICTS, SESSION_REQUESTS_ABANDONED};
use crate::ownership::Owner;
use crate::store::{BookingWrite, Change, StoreError};
use crate::traced::Traced;

/// How long the actor of a finished booking stays around for late requests.
const IDLE_STOP: Duration = Duration::from_secs(30);
/// How often an actor whose node's lease is overdue looks again at a deadline that fell due
/// (it applies it once the lease is renewed; if the lease is lost, the actor is stopped).
const LEASE_OVERDUE_RECHECK: Duration = Duration::from_secs(1);
/// The stop reason of an idle finished booking's actor (not restarted).
pub const IDLE_STOP_REASON: &str = "finished booking idle";
/// The stop reason of an actor whose node no longer holds its booking's lease (not
/// restarted here: the holder runs the booking's actor).
pub const LEASE_LOST_REASON: &str = "this node no longer holds the booking's lease";

pub type Reply<T> = RpcReplyPort<Result<T, HubError>>;

pub enum SessionMsg {
    Arrival {
        caller: Principal,
        qr_token: String,
        reply: Reply<Booking>,
    },
    Start {
        caller: Principal,
        reply: Reply<Booking>,
    },
    Finish {
        caller: Principal,
        reply: Reply<Booking>,
    },
    Override {
        by: Principal,
        target: OverrideTarget,
        reason: String,
        reply: Reply<Booking>,
    },
    Payment {
        notice: PaymentNotice,
        reply: Reply<PaymentOutcome>,
    },
    Read {
        caller: Principal,
        reply: Reply<Booking>,
    },
    /// The system config changed: re-arm the arrival deadline.
    Retune,
    /// A timer fired: apply whatever is due.
    Tick,
    /// Another node of the cluster committed a change of this booking: read it again.
    Refresh,
    /// No request for a while on a finished booking: stop.
    Idle { generation: u64 },
}

impl SessionMsg {
    /// What the message asks, for its span.
    fn name(&self) -> &'static str {
        match self {
            SessionMsg::Arrival { .. } => "arrival",
            SessionMsg::Start { .. } => "start",
            SessionMsg::Finish { .. } => "finish",
            SessionMsg::Override { .. } => "override",
            SessionMsg::Payment { .. } => "payment",
            SessionMsg::Read { .. } => "read",
            SessionMsg::Retune => "retune",
            SessionMsg::Refresh => "refresh",
            SessionMsg::Tick => "tick",
            SessionMsg::Idle { .. } => "idle",
        }
    }
}

/// What a session actor's mailbox holds: a message and the span of whoever sent it.
pub type SessionEnvelope = Traced<SessionMsg>;
/// A session actor.
pub type SessionRef = ActorRef<SessionEnvelope>;

pub struct SessionActor;

/// Whether the caller stopped waiting for this request: its ask timed out and was answered
/// 503 `UNAVAILABLE`. Such a request is dropped unapplied, so that "unavailable" means
/// nothing happened. (One already being applied when the caller gives up still commits: the
/// window is one store commit; retries are safe because a repeated transition by the same
/// caller answers the same and a payment is applied once per event id.)
fn abandoned<T>(reply: &Reply<T>) -> bool {
    let gone = reply.is_closed();
    if gone {
        metrics::counter!(SESSION_REQUESTS_ABANDONED).increment(1);
    }
    gone
}

/// What one request or timer does to the booking, committed as one change.
struct Step {
    next: Booking,
    event: Option<Event>,
    audit: Option<AuditEntry>,
    payment: Option<Payment>,
    /// Set when the step brings the booking back to a live status: its slot is claimed again.
    reclaim: Option<SlotClaim>,
}

impl Step {
    /// The booking after `decision`, with the decision's event if it has one.
    fn decided(next: Booking, decision: &Decision, now: DateTime<Utc>) -> Step {
        let event = decision.event.map(|kind| next.event(kind, now));
        Step {
            next,
            event,
            audit: None,
            payment: None,
            reclaim: None,
        }
    }
}

/// What a session actor starts from.
pub struct SessionArgs {
    pub ctx: Arc<HubContext>,
    /// The booking as just read or written.
    pub booking: Booking,
    /// In a cluster, the token of the lease under which this node acts for the booking: its
    /// every commit carries it, and the store refuses it once another node took over.
    pub fence: Option<i64>,
}

pub struct SessionState {
    ctx: Arc<HubContext>,
    booking: Booking,
    fence: Option<i64>,
    timer: Option<JoinHandle<Result<(), ractor::MessagingErr<SessionEnvelope>>>>,
    idle_generation: u64,
}

impl Actor for SessionActor {
    type Msg = SessionEnvelope;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        _myself: SessionRef,
        SessionArgs {
            ctx,
            mut booking,
            fence,
        }: Self::Arguments,
    ) -> Result<SessionState, ActorProcessingErr> {
        // From here on a node with an older lease can no longer commit for the booking; what
        // it committed before is read now (nothing, if no lease was ever raised on it).
        if let Some(fence) = fence
            && ctx.store.raise_fence(booking.id, fence).await?
            && let Some(stored) = ctx.store.booking(booking.id).await?
        {
            booking = stored;
        }
        Ok(SessionState {
            ctx,
            booking,
            fence,
            timer: None,
            idle_generation: 0,
        })
    }

    async fn post_start(
        &self,
        myself: SessionRef,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        // Deadlines that passed while the hub was down are applied now.
        state.catch_up().await?;
        state.rearm(&myself);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: SessionRef,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: SessionRef,
        Traced { msg, span }: SessionEnvelope,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let span = info_span!(
            parent: &span,
            "session",
            booking_id = %state.booking.id,
            msg = msg.name()
        );
        state.handle(&myself, msg).instrument(span).await
    }
}

/// Runs a request or a timer's work; when its commit found that another node changed the
/// booking since this actor read it (fencing, contract §8), reads the booking again and runs
/// it once more on the fresh state. A second conflict is answered (503: retry).
macro_rules! once_more {
    ($state:ident, $work:expr) => {{
        let first = $work;
        if matches!(first, Err(HubError::Store(StoreError::Conflict))) {
            metrics::counter!(SESSION_CONFLICTS).increment(1);
            match $state.reload().await {
                Ok(()) => $work,
                Err(err) => Err(err),
            }
        } else {
            first
        }
    }};
}

/// Whether an actor may act for its booking now (contract §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// This node holds the booking's lease, under the token the actor started with.
    Acts,
    /// The lease's renewal is overdue: the node may have lost it. Requests are refused
    /// (503) and deadlines wait until it is renewed, or the actor is stopped.
    Overdue,
    /// Another node holds the lease, or this node took it again under another token.
    Lost,
}

/// Answers a request the actor does not run (503: the client retries, and finds the
/// booking's holder).
fn refuse(msg: SessionMsg) {
    let busy = || HubError::Unavailable("this node no longer acts for the booking".into());
    match msg {
        SessionMsg::Arrival { reply, .. }
        | SessionMsg::Start { reply, .. }
        | SessionMsg::Finish { reply, .. }
        | SessionMsg::Override { reply, .. }
        | SessionMsg::Read { reply, .. } => {
            let _ = reply.send(Err(busy()));
        }
        SessionMsg::Payment { reply, .. } => {
            let _ = reply.send(Err(busy()));
        }
        SessionMsg::Retune | SessionMsg::Tick | SessionMsg::Refresh | SessionMsg::Idle { .. } => {}
    }
}

impl SessionState {
    fn standing(&self) -> Standing {
        match self.ctx.ownership.owner(self.booking.id) {
            Owner::Here { fence } if fence == self.fence => Standing::Acts,
            Owner::Nobody => Standing::Overdue,
            Owner::Here { .. } | Owner::There { .. } => Standing::Lost,
        }
    }

    async fn handle(
        &mut self,
        myself: &SessionRef,
        msg: SessionMsg,
    ) -> Result<(), ActorProcessingErr> {
        match self.standing() {
            Standing::Acts => {}
            Standing::Overdue => {
                refuse(msg);
                self.rearm(myself);
                return Ok(());
            }
            Standing::Lost => {
                refuse(msg);
                myself.stop(Some(LEASE_LOST_REASON.into()));
                return Ok(());
            }
        }
        let state = self;
        match msg {
            SessionMsg::Arrival {
                caller,
                qr_token,
                reply,
            } => {
                if !abandoned(&reply) {
                    let answer = once_more!(state, state.arrival(caller, &qr_token).await);
                    let _ = reply.send(answer);
                }
            }
            SessionMsg::Start { caller, reply } => {
                if !abandoned(&reply) {
                    let answer = once_more!(state, state.drive(caller, Trigger::Start).await);
                    let _ = reply.send(answer);
                }
            }
            SessionMsg::Finish { caller, reply } => {
                if !abandoned(&reply) {
                    let answer = once_more!(state, state.drive(caller, Trigger::Finish).await);
                    let _ = reply.send(answer);
                }
            }
            SessionMsg::Override {
                by,
                target,
                reason,
                reply,
            } => {
                if !abandoned(&reply) {
                    let answer = once_more!(state, state.override_to(by, target, &reason).await);
                    let _ = reply.send(answer);
                }
            }
            SessionMsg::Payment { notice, reply } => {
                if !abandoned(&reply) {
                    let answer = once_more!(state, state.payment(notice.clone()).await);
                    let _ = reply.send(answer);
                }
            }
            SessionMsg::Read { caller, reply } => {
                let _ = reply.send(state.read(caller).await);
            }
            SessionMsg::Retune => once_more!(state, state.retune().await)?,
            SessionMsg::Tick => once_more!(state, state.catch_up().await)?,
            SessionMsg::Refresh => state.reload().await?,
            SessionMsg::Idle { generation } => {
                if generation == state.idle_generation && !state.booking.status.is_live() {
                    myself.stop(Some(IDLE_STOP_REASON.into()));
                    return Ok(());
                }
            }
        }
        state.rearm(myself);
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        self.ctx.clock.now()
    }

    /// Whether this node may apply the booking's deadlines now: it holds the lease the actor
    /// was started under, renewed in time (always, alone).
    fn acts(&self) -> bool {
        self.ctx.ownership.holds(self.booking.id, self.fence)
    }

    /// Arms the timer for what is due next, or the idle stop of a finished booking.
    fn rearm(&mut self, myself: &SessionRef) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        self.idle_generation += 1;
        if let Some(due) = self.booking.due() {
            let mut delay = until(self.now(), due.at()) + Duration::from_millis(1);
            if !self.acts() {
                // The lease's renewal is overdue: look again in a while.
                delay = delay.max(LEASE_OVERDUE_RECHECK);
            }
            self.timer = Some(myself.send_after(delay, || SessionMsg::Tick.into()));
        } else if !self.booking.status.is_live() {
            let generation = self.idle_generation;
            self.timer =
                Some(myself.send_after(IDLE_STOP, move || SessionMsg::Idle { generation }.into()));
        }
    }

    /// Applies a timer that is due (arrival deadline, session end). A store failure here is
    /// returned as an error: the supervisor restarts the actor from the store, which retries.
    async fn catch_up(&mut self) -> Result<(), HubError> {
        let Some(due) = self.booking.due() else {
            return Ok(());
        };
        let now = self.now();
        if now <= due.at() || !self.acts() {
            return Ok(());
        }
        if self.ctx.is_clustered() {
            // Another node may have changed the booking since this actor last saw it.
            self.reload().await?;
            return self.catch_up_known().await;
        }
        self.catch_up_known().await
    }

    /// Reads the booking again from the store (another node committed a change of it).
    async fn reload(&mut self) -> Result<(), HubError> {
        if let Some(stored) = self.ctx.store.booking(self.booking.id).await? {
            self.booking = stored;
        }
        Ok(())
    }

    /// Applies the deadline that is due by the booking as this actor holds it.
    async fn catch_up_known(&mut self) -> Result<(), HubError> {
        let Some(due) = self.booking.due() else {
            return Ok(());
        };
        let now = self.now();
        if now <= due.at() {
            return Ok(());
        }
        let trigger = match due {
            crate::domain::booking::Due::ArrivalDeadline(_) => Trigger::DeadlinePassed,
            crate::domain::booking::Due::SessionEnd(_) => Trigger::SessionEnded,
        };
        let decision = decide(self.booking.status, trigger);
        let mut next = self.booking.clone();
        next.apply(&decision, now, &self.ctx.config());
        self.commit(Step::decided(next, &decision, now)).await?;
        info!(booking_id = %self.booking.id, status = self.booking.status.as_str(), "timer applied");
        Ok(())
    }

    /// Commits a step, then makes its booking the actor's state and publishes its events.
    async fn commit(&mut self, step: Step) -> Result<(), HubError> {
        let changed = step.next != self.booking;
        let mut next = step.next;
        if changed || step.reclaim.is_some() {
            // Decided on the version this actor holds; the store checks it (fencing).
            next.version = self.booking.version + 1;
        }
        let write = match step.reclaim {
            Some(claim) => Some(BookingWrite::Reclaim(next.clone(), claim)),
            None => changed.then(|| BookingWrite::Update(next.clone())),
        };
        let change = Change {
            booking: write,
            fence: self.fence,
            payment: step.payment,
            audit: step.audit,
            events: step.event.into_iter().collect(),
            ..Change::default()
        };
        if change.booking.is_none() && change.payment.is_none() && change.events.is_empty() {
            return Ok(());
        }
        let stored = self
            .ctx
            .store
            .commit(change)
            .await
            .map_err(|err| match err {
                StoreError::SlotTaken => HubError::SlotTaken,
                other => HubError::Store(other),
            })?;
        debug!(
            status = next.status.as_str(),
            events = stored.len(),
            "committed"
        );
        self.booking = next;
        self.ctx.publish(stored);
        Ok(())
    }

    fn access(&self, caller: &Principal) -> SessionAccess {
        caller.session_access(self.booking.outlet_id, self.booking.booth_id)
    }

    /// A rejection event for a scan: the booth that scanned hears of it on its own stream
    /// when it is of this outlet.
    fn rejection(&self, caller: &Principal, reason: ErrorCode, now: DateTime<Utc>) -> Event {
        let mut event = self.booking.event(EventKind::SessionRejected, now);
        if let Principal::Booth {
            booth_id,
            outlet_id,
        } = caller
        {
            if *outlet_id == self.booking.outlet_id {
                event.booth_id = Some(*booth_id);
            }
            event.data = serde_json::json!({ "reason": reason, "by_booth": booth_id });
        } else {
            event.data = serde_json::json!({ "reason": reason });
        }
        event
    }

    async fn arrival(&mut self, caller: Principal, qr_token: &str) -> Result<Booking, HubError> {
        self.catch_up().await?;
        let now = self.now();
        match self.access(&caller) {
            SessionAccess::Allowed => {}
            SessionAccess::Hidden => return Err(HubError::NotFound("booking")),
            SessionAccess::WrongBooth => {
                return self.reject(&caller, HubError::WrongBooth, now).await;
            }
        }
        if !self.ctx.qr.verify(self.booking.id, qr_token) {
            return self.reject(&caller, HubError::InvalidQr, now).await;
        }
        let config = self.ctx.config();
        let window = self.booking.window(now, &config);
        let decision = decide(self.booking.status, Trigger::Arrival(window));
        let mut next = self.booking.clone();
        next.apply(&decision, now, &config);
        let event = match decision.refusal {
            Some(refusal) if decision.to.is_none() => {
                Some(self.rejection(&caller, refusal.code(), now))
            }
            _ => {
                if next.booth_id.is_none() && decision.to.is_some() {
                    next.booth_id = caller.booth_id();
                }
                None
            }
        };
        let before = self.booking.status;
        let step = Step::decided(next, &decision, now);
        self.commit(Step {
            event: event.or(step.event),
            ..step
        })
        .await?;
        match decision.refusal {
            Some(refusal) => Err(HubError::Refused {
                refusal,
                status: before,
            }),
            None => Ok(self.booking.clone()),
        }
    }

    /// Records a scan refused before the status machine (scope, QR) and answers `refusal`.
    async fn reject(
        &mut self,
        caller: &Principal,
        refusal: HubError,
        now: DateTime<Utc>,
    ) -> Result<Booking, HubError> {
        let reason = match refusal {
            HubError::WrongBooth => ErrorCode::WrongBooth,
            _ => ErrorCode::InvalidQr,
        };
        let event = self.rejection(caller, reason, now);
        let step = Step {
            event: Some(event),
            ..Step::decided(self.booking.clone(), &Decision::default(), now)
        };
        self.commit(step).await?;
        Err(refusal)
    }

    async fn drive(&mut self, caller: Principal, trigger: Trigger) -> Result<Booking, HubError> {
        self.catch_up().await?;
        match self.access(&caller) {
            SessionAccess::Allowed => {}
            SessionAccess::Hidden => return Err(HubError::NotFound("booking")),
            SessionAccess::WrongBooth => return Err(HubError::WrongBooth),
        }
        let now = self.now();
        let decision = decide(self.booking.status, trigger);
        if let Some(refusal) = decision.refusal {
            return Err(HubError::Refused {
                refusal,
                status: self.booking.status,
            });
        }
        let mut next = self.booking.clone();
        next.apply(&decision, now, &self.ctx.config());
        self.commit(Step::decided(next, &decision, now)).await?;
        Ok(self.booking.clone())
    }

    async fn override_to(
        &mut self,
        by: Principal,
        target: OverrideTarget,
        reason: &str,
    ) -> Result<Booking, HubError> {
        self.catch_up().await?;
        let Some(user) = by.user_id() else {
            return Err(HubError::Forbidden);
        };
        if self.access(&by) != SessionAccess::Allowed {
            return Err(HubError::NotFound("booking"));
        }
        let now = self.now();
        let config = self.ctx.config();
        let decision = decide(self.booking.status, Trigger::Override(target));
        let mut next = self.booking.clone();
        next.apply(&decision, now, &config);
        next.record_override(user, reason, now, &config);
        let from = self.booking.status;
        let mut event = next.event(EventKind::SessionOverride, now);
        event.data =
            serde_json::json!({ "from": from, "to": next.status, "reason": reason, "by": user });
        let audit = AuditEntry {
            id: AuditId::new(),
            kind: AuditKind::SessionOverride,
            at: now,
            actor_id: Some(user),
            actor_email: self.ctx.email_of(user).await,
            target: Some(AuditTarget::Booking(self.booking.id)),
            outlet_id: Some(self.booking.outlet_id),
            booking_id: Some(self.booking.id),
            from: serde_json::json!(from),
            to: serde_json::json!(next.status),
            reason: Some(reason.to_owned()),
        };
        let reclaim = if !from.is_live() && next.status.is_live() {
            Some(self.slot_claim(&config).await?)
        } else {
            None
        };
        let step = Step {
            event: Some(event),
            audit: Some(audit),
            reclaim,
            ..Step::decided(next, &decision, now)
        };
        self.commit(step).await?;
        Ok(self.booking.clone())
    }

    /// The claim of this booking's slot, as its creation made it.
    async fn slot_claim(&self, config: &SystemConfig) -> Result<SlotClaim, HubError> {
        let capacity = match self.booking.booth_id {
            Some(_) => 1,
            None => self.ctx.store.count_booths(self.booking.outlet_id).await?,
        };
        Ok(SlotClaim {
            outlet_id: self.booking.outlet_id,
            booth_id: self.booking.booth_id,
            slot: Slot::of(self.booking.booking_time, config.session_duration()),
            duration: config.session_duration(),
            capacity,
        })
    }

    async fn payment(&mut self, notice: PaymentNotice) -> Result<PaymentOutcome, HubError> {
        self.catch_up().await?;
        if let Some(first) = self.ctx.store.payment(&notice.event_id).await? {
            return replay(&first, &notice);
        }
        let now = self.now();
        let (outcome, confirms) = judge(&notice, &self.booking);
        let decision = if confirms {
            decide(self.booking.status, Trigger::PaymentSucceeded)
        } else {
            Decision::default()
        };
        let mut next = self.booking.clone();
        next.apply(&decision, now, &self.ctx.config());
        if confirms {
            next.paid_at = Some(notice.paid_at.unwrap_or(now));
        }
        let payment = Payment::record(&notice, Some(self.booking.outlet_id), outcome.clone(), now);
        match self
            .commit(Step {
                payment: Some(payment),
                ..Step::decided(next, &decision, now)
            })
            .await
        {
            Ok(()) => Ok(outcome),
            Err(HubError::Store(StoreError::Duplicate(_))) => {
                // The same event id raced in through another booking: answer as it was answered.
                let first = self.ctx.store.payment(&notice.event_id).await?;
                first.map_or(Err(HubError::EventIdReused), |first| {
                    replay(&first, &notice)
                })
            }
            Err(err) => Err(err),
        }
    }

    async fn read(&mut self, caller: Principal) -> Result<Booking, HubError> {
        self.catch_up().await?;
        if !caller.sees_outlet(self.booking.outlet_id) {
            return Err(HubError::NotFound("booking"));
        }
        Ok(self.booking.clone())
    }

    async fn retune(&mut self) -> Result<(), HubError> {
        if self.booking.awaits_arrival() {
            let deadline = self.booking.deadline_under(&self.ctx.config());
            if deadline != self.booking.arrival_deadline {
                let mut next = self.booking.clone();
                next.arrival_deadline = deadline;
                let now = self.now();
                if let Err(err) = self
                    .commit(Step::decided(next, &Decision::default(), now))
                    .await
                {
                    warn!(booking_id = %self.booking.id, error = %err, "re-arming the deadline failed");
                    return Err(err);
                }
            }
        }
        self.catch_up().await
    }
}

/// The answer to a repeated event id: the first answer when the body is the same.
pub fn replay(first: &Payment, notice: &PaymentNotice) -> Result<PaymentOutcome, HubError> {
    if first.body_hash == notice.body_hash {
        Ok(first.outcome.clone())
    } else {
        Err(HubError::EventIdReused)
    }
}

#[cfg(test)]
mod tests {
    //! A session actor in the test world: its deadlines, its serialised requests.

    use std::sync::Arc;
    use std::time::Duration;

    use crate::clock::TokioClock;
    use crate::context::HubSettings;
    use crate::domain::access::Principal;
    use crate::domain::event::{EventKind, Stream};
    use crate::domain::ids::UserId;
    use crate::domain::status::{OverrideTarget, Status};
    use crate::error::HubError;
    use crate::hub::Hub;
    use crate::session::SessionMsg;
    use crate::world::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_whose_caller_stopped_waiting_is_not_applied() {
        let world = world(1).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, true))
            .await
            .unwrap();
        let actor = world.hub.children().session(booking.id).await.unwrap();
        // The caller's ask timed out: its end of the reply port is gone.
        let (reply, gone) = tokio::sync::oneshot::channel();
        drop(gone);
        let late = SessionMsg::Override {
            by: world.admin,
            target: OverrideTarget::Overridden,
            reason: "late".into(),
            reply: reply.into(),
        };
        actor.cast(late.into()).unwrap();
        let read = world
            .hub
            .session_status(world.admin, booking.id)
            .await
            .unwrap();
        assert_eq!(read.status, Status::AwaitingCustomer);
        assert_eq!(
            status_of(&world, booking.id).await,
            Status::AwaitingCustomer
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unpaid_booking_expires_at_its_arrival_deadline() {
        let world = world(1).await;
        let mut events = world.hub.listen(Stream::Outlet(world.outlet));
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 10, false))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(24 * 60)).await;
        assert_eq!(
            status_of(&world, booking.id).await,
            Status::PendingPayment,
            "not before the deadline"
        );
        tokio::time::sleep(Duration::from_secs(60 + 1)).await;
        let expired = world.store.booking(booking.id).await.unwrap().unwrap();
        assert_eq!(expired.status, Status::Expired);
        assert_eq!(
            expired
                .expired_at
                .map(|at| at > base() + chrono::Duration::minutes(25)),
            Some(true)
        );
        let mut kinds = vec![];
        while let Ok(published) = events.try_recv() {
            kinds.push((published.event.seq, published.event.event.event));
        }
        let want = vec![
            (1, EventKind::BookingCreated),
            (2, EventKind::SessionExpired),
        ];
        assert_eq!(kinds, want, "the outlet stream in order");
    }

    /// A world whose hub is a node of a cluster, holding the lease of `booking`'s shard
    /// until `for_` from now (under token 1), or not at all.
    fn hold(world: &World, booking: crate::domain::ids::BookingId, for_: Option<Duration>) {
        use crate::ownership::{Holder, shard_of};
        let holder = match for_ {
            Some(for_) => Holder::Me {
                token: 1,
                until: tokio::time::Instant::now() + for_,
            },
            None => Holder::Nobody,
        };
        world.hub.context().ownership.set(shard_of(booking), holder);
    }

    fn clustered() -> HubSettings {
        HubSettings {
            clustered: true,
            ..HubSettings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_applied_only_while_the_nodes_lease_is_renewed_in_time() {
        let world = world_with(1, clustered()).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 10, false))
            .await
            .unwrap();
        assert!(
            world.hub.children().running(booking.id).is_none(),
            "no actor where the booking's lease is not held"
        );
        hold(&world, booking.id, Some(Duration::from_secs(5)));
        world.hub.children().session(booking.id).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
        assert_eq!(
            status_of(&world, booking.id).await,
            Status::PendingPayment,
            "the lease's renewal is overdue: the node may have lost it"
        );
        // Renewed: the deadline that passed is applied, once.
        hold(&world, booking.id, Some(Duration::from_secs(3600)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(status_of(&world, booking.id).await, Status::Expired);
        let events = world.store.booking_events(booking.id).await.unwrap();
        let expiries = events
            .iter()
            .filter(|e| e.event.event == EventKind::SessionExpired)
            .count();
        assert_eq!(expiries, 1, "{events:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_for_a_booking_another_node_acts_for_names_that_node() {
        use crate::ownership::{Holder, shard_of};
        let world = world_with(1, clustered()).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 10, true))
            .await
            .unwrap();
        let read = || world.hub.session_status(world.admin, booking.id);
        hold(&world, booking.id, None);
        assert!(
            matches!(read().await, Err(HubError::Unavailable(_))),
            "nobody holds it yet: retry"
        );
        world.hub.context().ownership.set(
            shard_of(booking.id),
            Holder::Other {
                node: crate::domain::ids::NodeId::new(),
                address: "10.0.0.2:7443".into(),
            },
        );
        match read().await {
            Err(HubError::Elsewhere { address }) => assert_eq!(address, "10.0.0.2:7443"),
            other => panic!("{other:?}"),
        }
        hold(&world, booking.id, Some(Duration::from_secs(60)));
        assert_eq!(read().await.unwrap().status, Status::AwaitingCustomer);
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_session_is_done_when_its_time_is_up() {
        let world = world(1).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, true))
            .await
            .unwrap();
        let booth = world.booths[0];
        world
            .hub
            .arrival(booth, booking.id, booking.qr_token.clone())
            .await
            .unwrap();
        let started = world.hub.start_session(booth, booking.id).await.unwrap();
        assert_eq!(
            started.ends_at,
            Some(base() + chrono::Duration::minutes(15))
        );
        tokio::time::sleep(Duration::from_secs(14 * 60)).await;
        assert_eq!(status_of(&world, booking.id).await, Status::Ongoing);
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(status_of(&world, booking.id).await, Status::Done);
        // The repeat of a finish that the timer already did is a safe retry.
        let done = world.hub.finish_session(booth, booking.id).await.unwrap();
        assert_eq!(done.status, Status::Done);
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_that_passed_while_the_hub_was_down_apply_at_start() {
        let world = world(1).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 5, true))
            .await
            .unwrap();
        world.hub.shutdown().await;
        // Nobody is running: the deadline (10:20) passes.
        tokio::time::sleep(Duration::from_secs(60 * 60)).await;
        let clock = Arc::new(TokioClock::starting_at(
            base() + chrono::Duration::minutes(60),
        ));
        let hub = Hub::start(Arc::clone(&world.store), clock, HubSettings::default())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(status_of(&world, booking.id).await, Status::Expired);
        hub.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_scans_of_one_qr_give_exactly_one_arrival() {
        let world = world(8).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, true))
            .await
            .unwrap();
        let hub = Arc::new(world.hub);
        let scans = world.booths.iter().map(|booth| {
            let hub = Arc::clone(&hub);
            let (booth, qr) = (*booth, booking.qr_token.clone());
            tokio::spawn(async move { hub.arrival(booth, booking.id, qr).await })
        });
        let mut arrived = 0;
        let mut wrong_booth = 0;
        for scan in scans.collect::<Vec<_>>() {
            match scan.await.unwrap() {
                Ok(b) => {
                    assert_eq!(b.status, Status::Arrived);
                    arrived += 1;
                }
                Err(HubError::WrongBooth) => wrong_booth += 1,
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!((arrived, wrong_booth), (1, 7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_tolerance_rearms_and_expires_waiting_bookings() {
        let world = world(2).await;
        let sup = Principal::SuperAdmin {
            user_id: UserId::new(),
        };
        let waiting = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, true))
            .await
            .unwrap();
        let later = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 60, true))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5 * 60)).await;
        world.hub.update_system_config(&sup, 15, 2).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            status_of(&world, waiting.id).await,
            Status::Expired,
            "10:02 has passed at 10:05"
        );
        let moved = world.store.booking(later.id).await.unwrap().unwrap();
        assert_eq!(
            moved.arrival_deadline,
            base() + chrono::Duration::minutes(62)
        );
        assert_eq!(moved.status, Status::AwaitingCustomer);
    }
}
