//! What transports call. The hub finds or starts the actor that owns a booking or a booth,
//! asks it with a timeout, and does the few things that belong to no single actor: creating
//! bookings (slot claims), the system config, listings.

use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use rand::RngCore;
use tokio::sync::{mpsc, watch};
use tracing::{Span, info, instrument, warn};

use crate::booth::{BoothHandle, BoothMsg};
use crate::clock::SharedClock;
use crate::connection::{ConnectionActor, ConnectionArgs, ConnectionHandle};
use crate::context::{HubContext, HubSettings};
use crate::directory::Directory;
use crate::domain::access::{Action, Principal, Scope, permits};
use crate::domain::booking::{Booking, NewBooking, NewBookingRefusal, SlotClaim};
use crate::domain::config::SystemConfig;
use crate::domain::event::{Event, EventKind, StoredEvent, Stream};
use crate::domain::ids::{AuditId, BookingId, BoothId, OutletId, PaymentId, UserId};
use crate::domain::payment::{NotRefundable, Payment, PaymentNotice, PaymentOutcome};
use crate::domain::qr::QrSigner;
use crate::domain::records::DeadLetter;
use crate::domain::records::{AuditEntry, AuditKind, AuditTarget};
use crate::domain::status::OverrideTarget;
use crate::domain::validate::FieldErrors;
use crate::error::HubError;
use crate::metrics::BOOKINGS_CREATED;
use crate::ownership::{Owner, Ownership};
use crate::router::Published;
use crate::sequencer::Outbound;
use crate::session::{Reply, SessionMsg, replay};
use crate::store::{
    AuditFilter, BookingFilter, BookingWrite, Change, DeadLetterFilter, Page, PageRequest,
    PaymentFilter, Presence, Store, StoreError,
};
use crate::supervisor::{Children, SupervisorMsg};

/// Runs a listing with the caller's outlet scope applied: scoped callers list their outlet;
/// asking for an outlet the caller may not see lists nothing.
async fn scoped<T, F, Fut>(
    caller: &Principal,
    requested: Option<OutletId>,
    list: F,
) -> Result<Page<T>, HubError>
where
    F: FnOnce(Option<OutletId>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    match caller.outlet_filter(requested) {
        Some(outlet) => Ok(list(outlet).await?),
        None => Ok(Page {
            items: vec![],
            next_cursor: None,
        }),
    }
}

/// Booths recorded online when the hub stopped without recording them offline (a crash):
/// their connections died with it.
async fn close_stale_presence(ctx: &Arc<HubContext>) -> Result<(), HubError> {
    for booth in ctx.store.booths_online().await? {
        crate::booth::record_offline(ctx, booth.id, booth.outlet_id, "the hub restarted").await?;
    }
    Ok(())
}

/// Every booth gets its actor at start, so that its stream's events are tracked for acks.
async fn start_booth_actors(
    store: &Arc<dyn Store>,
    children: &Children,
) -> Result<usize, HubError> {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = store
            .list_booths(None, &PageRequest { limit: 200, cursor })
            .await?;
        for booth in &page.items {
            if let Some(seen) = booth.last_seen_at {
                children.context().presence.insert(
                    booth.id,
                    Presence {
                        booth_id: booth.id,
                        online: false,
                        at: seen,
                    },
                );
            }
            children.booth(booth.id).await?;
            count += 1;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(count),
        }
    }
}

/// The entry point for transports.
#[derive(Debug)]
pub struct Hub {
    ctx: Arc<HubContext>,
    children: Arc<Children>,
    supervisor: ActorRef<SupervisorMsg>,
    directory: Directory,
    ask_timeout: Duration,
    max_streams: usize,
    /// Refunds take turns: a payment is read, judged and written back (see `refund_payment`).
    refunds: tokio::sync::Mutex<()>,
}

impl Hub {
    /// Loads the config and secrets, starts the supervisor, and starts an actor for every
    /// live booking, applying deadlines that passed while the hub was down.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: SharedClock,
        settings: HubSettings,
    ) -> Result<Hub, HubError> {
        let config = store.system_config().await?.unwrap_or_default();
        let mut candidate = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut candidate);
        let qr = QrSigner::new(store.secret("qr", &candidate).await?);
        let ownership = if settings.clustered {
            Ownership::clustered()
        } else {
            Ownership::alone()
        };
        let ctx = Arc::new(HubContext::new(
            Arc::clone(&store),
            clock,
            qr,
            config,
            ownership,
        ));
        // A node joining a cluster is no timekeeper until the membership makes it one, and
        // acts for no booking until it takes leases (`cluster`): it starts their actors then.
        ctx.set_timekeeping(settings.clustered, !settings.clustered);
        let (supervisor, children) = crate::supervisor::start(Arc::clone(&ctx), &settings).await?;
        if !settings.clustered {
            let live = store.live_bookings().await?;
            let count = live.len();
            for booking in live {
                children.start(booking).await?;
            }
            info!(live_bookings = count, "session actors rehydrated");
        }
        if !settings.clustered {
            // Alone, no booth can be connected yet. In a cluster, booths recorded online may
            // be connected to other nodes.
            close_stale_presence(&ctx).await?;
        }
        let booths = start_booth_actors(&store, &children).await?;
        info!(booths, "booth actors started");
        Ok(Hub {
            directory: Directory::new(Arc::clone(&store), Arc::clone(&ctx.clock)),
            ctx,
            children,
            supervisor,
            ask_timeout: settings.ask_timeout,
            max_streams: settings.max_streams,
            refunds: tokio::sync::Mutex::new(()),
        })
    }

    /// Stops every actor and waits for them.
    pub async fn shutdown(&self) {
        self.children.close();
        let _ = self
            .supervisor
            .stop_children_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        self.supervisor.stop(None);
    }

    pub fn context(&self) -> &Arc<HubContext> {
        &self.ctx
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.ctx.store
    }

    pub fn children(&self) -> &Arc<Children> {
        &self.children
    }

    /// Every event committed on `stream` from now on, on an in-process channel.
    pub fn listen(&self, stream: Stream) -> mpsc::UnboundedReceiver<Arc<Published>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.ctx.router.listen(stream, Arc::new(tx));
        rx
    }

    /// Starts the connection actor of a WebSocket client; it feeds `outbound` and asks for a
    /// close through `close`.
    pub async fn connect(
        &self,
        principal: Principal,
        outbound: mpsc::Sender<Outbound>,
        close: watch::Sender<Option<(u16, String)>>,
    ) -> Result<ConnectionHandle, HubError> {
        permits(Some(&principal), Action::Subscribe)?;
        let booth = match principal.booth_id() {
            Some(id) => Some(BoothHandle::new(self.children.booth(id).await?)),
            None => None,
        };
        let args = ConnectionArgs {
            ctx: Arc::clone(&self.ctx),
            principal,
            outbound,
            close,
            booth,
            max_streams: self.max_streams,
        };
        let (actor, _) =
            Actor::spawn_linked(None, ConnectionActor, args, self.children.supervisor())
                .await
                .map_err(|e| {
                    HubError::Unavailable(format!("cannot start a connection actor: {e}"))
                })?;
        Ok(ConnectionHandle::new(actor))
    }

    /// Registers a booth and starts its actor; returns it with the hash of its token stored.
    pub async fn register_booth(
        &self,
        by: &Principal,
        outlet_id: crate::domain::ids::OutletId,
        name: String,
        token_hash: &str,
    ) -> Result<crate::domain::records::Booth, HubError> {
        let booth = self
            .directory
            .create_booth(by, outlet_id, name, token_hash)
            .await?;
        self.children.booth(booth.id).await?;
        Ok(booth)
    }

    /// What this hub knows of a booth's presence (online, last seen).
    pub fn presence(&self, booth: BoothId) -> Option<Presence> {
        self.ctx.presence.get(&booth).map(|p| *p)
    }

    pub async fn list_dead_letters(
        &self,
        caller: &Principal,
        mut filter: DeadLetterFilter,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, HubError> {
        permits(Some(caller), Action::ListBooths)?;
        scoped(caller, filter.outlet_id, |outlet_id| {
            filter.outlet_id = outlet_id;
            self.ctx.store.list_dead_letters(&filter, page)
        })
        .await
    }

    async fn ask<T: Send + 'static>(
        &self,
        id: BookingId,
        build: impl Fn(Reply<T>) -> SessionMsg,
    ) -> Result<T, HubError> {
        // An actor may stop (idle, or failed) between being found and being asked: ask again.
        for _ in 0..3 {
            let actor = self.children.session(id).await?;
            let envelope = |reply| build(reply).into();
            match actor.call(envelope, Some(self.ask_timeout)).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => {
                    return Err(HubError::Unavailable(
                        "the session did not answer in time".into(),
                    ));
                }
                Ok(CallResult::SenderError) | Err(_) => {
                    self.children.forget(actor.get_id());
                }
            }
        }
        Err(HubError::Unavailable(
            "the session actor keeps stopping".into(),
        ))
    }

    #[instrument(skip_all, fields(outlet_id = %new.outlet_id, booking_id))]
    pub async fn create_booking(
        &self,
        caller: Option<&Principal>,
        new: NewBooking,
    ) -> Result<Booking, HubError> {
        permits(caller, Action::CreateBooking)?;
        if new.paid && caller.is_none() {
            return Err(HubError::Forbidden);
        }
        if caller.is_some_and(|c| !c.sees_outlet(new.outlet_id)) {
            return Err(HubError::NotFound("outlet"));
        }
        let store = &self.ctx.store;
        let outlet = store
            .outlet(new.outlet_id)
            .await?
            .ok_or(HubError::NotFound("outlet"))?;
        if !outlet.active {
            return Err(HubError::OutletInactive);
        }
        let now = self.ctx.clock.now();
        let config = self.ctx.config();
        let amount = new
            .validate(now, &config, outlet.price)
            .map_err(|refusal| match refusal {
                NewBookingRefusal::Invalid(errors) => HubError::Invalid(errors),
                NewBookingRefusal::TimePassed => HubError::BookingTimePassed,
                NewBookingRefusal::TooFar => HubError::BookingTooFar,
                NewBookingRefusal::NotThePrice { price } => HubError::NotThePrice { price },
            })?;
        let capacity = match new.booth_id {
            Some(booth_id) => {
                let booth = store.booth(booth_id).await?;
                if booth.as_ref().is_none_or(|b| b.outlet_id != new.outlet_id) {
                    let msg = "is not a booth of this outlet";
                    return Err(HubError::Invalid(FieldErrors::single("booth_id", msg)));
                }
                if booth.is_some_and(|b| !b.active) {
                    let msg = "is a deactivated booth";
                    return Err(HubError::Invalid(FieldErrors::single("booth_id", msg)));
                }
                1
            }
            None => store.count_booths(new.outlet_id).await?,
        };
        let id = self.ctx.ownership.new_booking_id();
        Span::current().record("booking_id", tracing::field::display(id));
        let qr = self.ctx.qr.sign(id);
        let claim = SlotClaim {
            outlet_id: new.outlet_id,
            booth_id: new.booth_id,
            slot: crate::domain::booking::Slot::of(new.booking_time, config.session_duration()),
            duration: config.session_duration(),
            capacity,
        };
        let (booking, events) = new.into_booking(id, qr, now, &config, amount);
        let change = Change {
            booking: Some(BookingWrite::Create(booking.clone(), claim)),
            events,
            ..Change::default()
        };
        let stored = store.commit(change).await.map_err(|err| match err {
            StoreError::SlotTaken => HubError::SlotTaken,
            other => HubError::Store(other),
        })?;
        self.ctx.publish(stored);
        metrics::counter!(BOOKINGS_CREATED).increment(1);
        // Its actor (and timer) starts beside the answer: the booking is stored, so a failed
        // start must not answer 503 for it (a retry would book twice). Where it fails, or in a
        // cluster where another node holds the booking's shard, the holder starts it when
        // the change reaches it, when it takes the shard over, or at its next sweep of the
        // shards it holds.
        match self.ctx.ownership.owner(booking.id) {
            // Alone: nothing to fence, the start is immediate.
            Owner::Here { fence: None } => {
                if let Err(err) = self.children.start(booking.clone()).await {
                    warn!(booking_id = %booking.id, error = %err, "a new booking's actor did not start");
                }
            }
            // The start raises the booking's fence in the store: not on the answer's path.
            Owner::Here { fence: Some(_) } => {
                let children = Arc::clone(&self.children);
                let started = booking.clone();
                tokio::spawn(async move {
                    let id = started.id;
                    if let Err(err) = children.start(started).await {
                        warn!(booking_id = %id, error = %err, "a new booking's actor did not start");
                    }
                });
            }
            Owner::There { .. } | Owner::Nobody => {}
        }
        Ok(booking)
    }

    #[instrument(skip_all, fields(booking_id = %id, booth_id = caller.booth_id().map(tracing::field::display)))]
    pub async fn arrival(
        &self,
        caller: Principal,
        id: BookingId,
        qr_token: String,
    ) -> Result<Booking, HubError> {
        permits(Some(&caller), Action::DriveSession)?;
        if let Some(booth) = caller.booth_id() {
            self.admit_scan(booth).await?;
        }
        self.ask(id, |reply| SessionMsg::Arrival {
            caller,
            qr_token: qr_token.clone(),
            reply,
        })
        .await
    }

    #[instrument(skip_all, fields(booking_id = %id, booth_id = caller.booth_id().map(tracing::field::display)))]
    pub async fn start_session(
        &self,
        caller: Principal,
        id: BookingId,
    ) -> Result<Booking, HubError> {
        permits(Some(&caller), Action::DriveSession)?;
        self.ask(id, |reply| SessionMsg::Start { caller, reply })
            .await
    }

    #[instrument(skip_all, fields(booking_id = %id, booth_id = caller.booth_id().map(tracing::field::display)))]
    pub async fn finish_session(
        &self,
        caller: Principal,
        id: BookingId,
    ) -> Result<Booking, HubError> {
        permits(Some(&caller), Action::DriveSession)?;
        self.ask(id, |reply| SessionMsg::Finish { caller, reply })
            .await
    }

    #[instrument(skip_all, fields(booking_id = %id))]
    pub async fn override_session(
        &self,
        by: Principal,
        id: BookingId,
        target: OverrideTarget,
        reason: String,
    ) -> Result<Booking, HubError> {
        permits(Some(&by), Action::OverrideSession)?;
        if !crate::domain::validate::is_text(&reason, 500) {
            return Err(HubError::Invalid(FieldErrors::single(
                "reason",
                "must be 1 to 500 characters",
            )));
        }
        self.ask(id, |reply| SessionMsg::Override {
            by,
            target,
            reason: reason.clone(),
            reply,
        })
        .await
    }

    #[instrument(skip_all, fields(booking_id = %id))]
    pub async fn session_status(
        &self,
        caller: Principal,
        id: BookingId,
    ) -> Result<Booking, HubError> {
        permits(Some(&caller), Action::ReadSession)?;
        self.ask(id, |reply| SessionMsg::Read { caller, reply })
            .await
    }

    /// A booking's events, oldest first; a booking outside the caller's scope is not found.
    pub async fn booking_events(
        &self,
        caller: Principal,
        id: BookingId,
    ) -> Result<Vec<StoredEvent>, HubError> {
        permits(Some(&caller), Action::ListBookings)?;
        self.session_status(caller, id).await?;
        Ok(self.ctx.store.booking_events(id).await?)
    }

    /// Applies a verified payment notification; the same event id answers the same.
    #[instrument(skip_all, fields(booking_id = %notice.booking_id, event_id = %notice.event_id))]
    pub async fn confirm_payment(&self, notice: PaymentNotice) -> Result<PaymentOutcome, HubError> {
        let store = &self.ctx.store;
        if let Some(first) = store.payment(&notice.event_id).await? {
            return replay(&first, &notice);
        }
        let result = self.ask(notice.booking_id, |reply| SessionMsg::Payment {
            notice: notice.clone(),
            reply,
        });
        match result.await {
            Err(HubError::NotFound(_)) => {
                let now = self.ctx.clock.now();
                let payment = Payment::record(&notice, None, PaymentOutcome::UnknownBooking, now);
                let change = Change {
                    payment: Some(payment),
                    ..Change::default()
                };
                match store.commit(change).await {
                    Ok(_) => Ok(PaymentOutcome::UnknownBooking),
                    Err(StoreError::Duplicate(_)) => {
                        let first = store.payment(&notice.event_id).await?;
                        first.map_or(Err(HubError::EventIdReused), |first| {
                            replay(&first, &notice)
                        })
                    }
                    Err(err) => Err(err.into()),
                }
            }
            other => other,
        }
    }

    /// May this booth scan now? Answers `RateLimited` when it scans too fast.
    #[instrument(skip_all, fields(booth_id = %booth))]
    pub async fn admit_scan(&self, booth: BoothId) -> Result<(), HubError> {
        let actor = self.children.booth(booth).await?;
        let admitted = actor
            .call(|reply| BoothMsg::Scan { reply }, Some(self.ask_timeout))
            .await
            .map_err(|e| HubError::Unavailable(e.to_string()))?;
        match admitted {
            CallResult::Success(Ok(())) => Ok(()),
            CallResult::Success(Err(retry_after)) => Err(HubError::RateLimited { retry_after }),
            CallResult::Timeout | CallResult::SenderError => Err(HubError::Unavailable(
                "the booth actor did not answer".into(),
            )),
        }
    }

    pub fn system_config(&self) -> SystemConfig {
        self.ctx.config()
    }

    /// Changes the config, records it in the audit trail, tells every outlet, and re-arms the
    /// deadlines of bookings still awaiting arrival.
    pub async fn update_system_config(
        &self,
        by: &Principal,
        duration: i64,
        tolerance: i64,
    ) -> Result<SystemConfig, HubError> {
        permits(Some(by), Action::SystemConfig)?;
        let user: UserId = by.user_id().ok_or(HubError::Forbidden)?;
        SystemConfig::validate(duration, tolerance).map_err(HubError::Invalid)?;
        let now = self.ctx.clock.now();
        let before = self.ctx.config();
        let after = SystemConfig {
            session_duration_minutes: duration,
            arrival_tolerance_minutes: tolerance,
            updated_at: Some(now),
            updated_by: Some(user),
        };
        let summary = |c: &SystemConfig| {
            serde_json::json!({
                "session_duration_minutes": c.session_duration_minutes,
                "arrival_tolerance_minutes": c.arrival_tolerance_minutes,
            })
        };
        let audit = AuditEntry {
            id: AuditId::new(),
            kind: AuditKind::ConfigUpdated,
            at: now,
            actor_id: Some(user),
            actor_email: self.ctx.email_of(user).await,
            target: Some(AuditTarget::Config),
            outlet_id: None,
            booking_id: None,
            from: summary(&before),
            to: summary(&after),
            reason: None,
        };
        let mut events = vec![];
        let data = summary(&after);
        // CONFIG_UPDATED goes to `all` and to every outlet stream.
        let template = Event {
            event: EventKind::ConfigUpdated,
            booking_id: None,
            booth_id: None,
            outlet_id: None,
            status: None,
            at: now,
            data,
        };
        let outlets = self.ctx.store.outlet_ids().await?;
        events.push(template.clone());
        for outlet in outlets {
            events.push(Event {
                outlet_id: Some(outlet),
                ..template.clone()
            });
        }
        let change = Change {
            config: Some(after.clone()),
            audit: Some(audit),
            events,
            ..Change::default()
        };
        let stored = self.ctx.store.commit(change).await?;
        self.ctx.set_config(after.clone());
        self.ctx.publish(stored);
        for actor in self.children.session_actors() {
            let _ = actor.cast(SessionMsg::Retune.into());
        }
        Ok(after)
    }

    pub async fn list_bookings(
        &self,
        caller: &Principal,
        mut filter: BookingFilter,
        page: &PageRequest,
    ) -> Result<Page<Booking>, HubError> {
        permits(Some(caller), Action::ListBookings)?;
        scoped(caller, filter.outlet_id, |outlet_id| {
            filter.outlet_id = outlet_id;
            self.ctx.store.list_bookings(&filter, page)
        })
        .await
    }

    pub async fn list_audit(
        &self,
        caller: &Principal,
        mut filter: AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, HubError> {
        permits(Some(caller), Action::ReadAudit)?;
        scoped(caller, filter.outlet_id, |outlet_id| {
            filter.outlet_id = outlet_id;
            self.ctx.store.list_audit(&filter, page)
        })
        .await
    }

    /// Marks a payment flagged for refund as refunded (the money went back outside the hub),
    /// with the reason, in the audit trail.
    #[instrument(skip_all, fields(payment_id = %id))]
    pub async fn refund_payment(
        &self,
        caller: &Principal,
        id: PaymentId,
        reason: &str,
    ) -> Result<Payment, HubError> {
        permits(Some(caller), Action::RefundPayment)?;
        let user = caller.user_id().ok_or(HubError::Forbidden)?;
        // Two admins marking one payment at once: the second finds it refunded (409).
        let _turn = self.refunds.lock().await;
        let payment = self
            .ctx
            .store
            .payment_by_id(id)
            .await?
            .filter(|p| match p.outlet_id {
                Some(outlet) => caller.sees_outlet(outlet),
                None => caller.scope() == Scope::Everything,
            })
            .ok_or(HubError::NotFound("payment"))?;
        if !crate::domain::validate::is_text(reason, 500) {
            return Err(HubError::Invalid(FieldErrors::single(
                "reason",
                "must be 1 to 500 characters",
            )));
        }
        let now = self.ctx.clock.now();
        let refunded = payment
            .refunded(user, reason, now)
            .map_err(HubError::NotRefundable)?;
        let audit = AuditEntry {
            id: AuditId::new(),
            kind: AuditKind::PaymentRefunded,
            at: now,
            actor_id: Some(user),
            actor_email: self.ctx.email_of(user).await,
            target: Some(AuditTarget::Payment(id)),
            outlet_id: payment.outlet_id,
            booking_id: Some(payment.booking_id),
            from: serde_json::json!({ "payment_id": id, "refunded_at": null }),
            to: serde_json::json!({ "payment_id": id, "refunded_at": now }),
            reason: Some(reason.to_owned()),
        };
        let change = Change {
            refund: Some(refunded.clone()),
            audit: Some(audit),
            ..Change::default()
        };
        self.ctx
            .store
            .commit(change)
            .await
            .map_err(|err| match err {
                // Refunded (or gone) between the read and the write.
                StoreError::NotFound(_) => HubError::NotRefundable(NotRefundable::AlreadyRefunded),
                other => other.into(),
            })?;
        Ok(refunded)
    }

    pub async fn list_payments(
        &self,
        caller: &Principal,
        mut filter: PaymentFilter,
        page: &PageRequest,
    ) -> Result<Page<Payment>, HubError> {
        permits(Some(caller), Action::ListBookings)?;
        scoped(caller, filter.outlet_id, |outlet_id| {
            filter.outlet_id = outlet_id;
            self.ctx.store.list_payments(&filter, page)
        })
        .await
    }
}
