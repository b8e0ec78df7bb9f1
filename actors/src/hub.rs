//! What transports call. The hub finds or starts the actor that owns a booking or a booth,
//! asks it with a timeout, and does the few things that belong to no single actor: creating
//! bookings (slot claims), the system config, listings.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorId, ActorRef};
use rand::RngCore;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::booth::{BoothActor, BoothArgs, BoothMsg};
use crate::clock::SharedClock;
use crate::connection::{ConnMsg, ConnectionActor, ConnectionArgs, Outbound};
use crate::directory::Directory;
use crate::domain::access::{Action, Denied, Principal, permits};
use crate::domain::booking::{Booking, NewBooking, NewBookingRefusal, SlotClaim};
use crate::domain::config::SystemConfig;
use crate::domain::event::{Event, EventKind, StoredEvent};
use crate::domain::ids::{AuditId, BookingId, BoothId, OutletId, UserId};
use crate::domain::payment::{Payment, PaymentNotice, PaymentOutcome};
use crate::domain::qr::QrSigner;
use crate::domain::rate::RateLimit;
use crate::domain::records::DeadLetter;
use crate::domain::records::{AuditEntry, AuditKind};
use crate::domain::status::{OverrideTarget, Refusal, Status};
use crate::domain::validate::FieldErrors;
use crate::registry::{ActorTable, Listener, Published, StreamRouter};
use crate::session::{Reply, SessionActor, SessionMsg, replay};
use crate::store::{
    AuditFilter, BookingFilter, BookingWrite, Change, DeadLetterFilter, Page, PageRequest,
    PaymentFilter, Presence, Store, StoreError,
};
use crate::supervisor::{Supervisor, SupervisorMsg};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed")]
    Forbidden,
    #[error("no valid credentials")]
    Unauthenticated,
    #[error("the booth may not act on this booking")]
    WrongBooth,
    #[error("the QR token does not belong to this booking")]
    InvalidQr,
    #[error("{} while the booking is {}", crate::session::refusal_code(*refusal), status.as_str())]
    Refused { refusal: Refusal, status: Status },
    #[error("invalid values")]
    Invalid(FieldErrors),
    #[error("the booking time has passed")]
    BookingTimePassed,
    #[error("the booking time is too far ahead")]
    BookingTooFar,
    #[error("the slot is taken")]
    SlotTaken,
    #[error("the e-mail address is taken")]
    EmailTaken,
    #[error("the event id was used with another body")]
    EventIdReused,
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the hub is busy: {0}")]
    Unavailable(String),
}

impl From<Denied> for HubError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Unauthenticated => HubError::Unauthenticated,
            Denied::Forbidden => HubError::Forbidden,
        }
    }
}

/// What every actor shares: the store, the clock, the QR secret, the system config, the
/// router that hands committed events to their streams' listeners, and booth presence.
#[derive(Debug)]
pub struct HubContext {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub qr: QrSigner,
    pub router: StreamRouter,
    /// The last presence of each booth seen by this hub.
    pub presence: DashMap<BoothId, Presence>,
    config: RwLock<SystemConfig>,
}

impl HubContext {
    pub fn config(&self) -> SystemConfig {
        match self.config.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_config(&self, config: SystemConfig) {
        match self.config.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    /// Hands committed events to their streams' listeners. Called only after commit.
    pub fn publish(&self, events: Vec<StoredEvent>) {
        for event in events {
            metrics::counter!("boothhub_events_published_total").increment(1);
            self.router.publish(&Arc::new(Published::new(event)));
        }
    }
}

/// Tunables of the hub, from the process config.
#[derive(Clone, Debug)]
pub struct HubSettings {
    pub scan_limit: RateLimit,
    pub ask_timeout: Duration,
    /// The first wait before an unacked booth event is sent again.
    pub retry_base: Duration,
    /// Streams one WebSocket connection may hold subscribed.
    pub max_streams: usize,
    /// Unacked events a booth actor keeps; beyond, the oldest is dead-lettered.
    pub max_unacked: usize,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            scan_limit: RateLimit {
                per_minute: 30,
                burst: 10,
            },
            ask_timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(1),
            max_streams: 100,
            max_unacked: 1024,
        }
    }
}

/// What a stopped actor owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    Session(BookingId),
    Booth(BoothId),
}

/// The session and booth actors, started on demand under one supervisor.
#[derive(Debug)]
pub struct Sessions {
    ctx: Arc<HubContext>,
    sessions: ActorTable<BookingId, SessionMsg>,
    booths: ActorTable<BoothId, BoothMsg>,
    supervisor: OnceLock<ActorCell>,
    scan_limit: RateLimit,
    retry_base: Duration,
    max_unacked: usize,
    closing: std::sync::atomic::AtomicBool,
}

impl Sessions {
    /// Whether the hub is shutting down (stopped actors are not restarted then).
    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The session actor of `id`, if one runs.
    pub fn running(&self, id: BookingId) -> Option<ActorRef<SessionMsg>> {
        self.sessions.get(&id)
    }

    fn supervisor(&self) -> Result<ActorCell, HubError> {
        self.supervisor
            .get()
            .cloned()
            .ok_or_else(|| HubError::Unavailable("no supervisor".into()))
    }

    async fn spawn(&self, booking: Booking) -> Result<ActorRef<SessionMsg>, HubError> {
        let supervisor = self.supervisor()?;
        let args = (Arc::clone(&self.ctx), booking);
        let (actor, _) = Actor::spawn_linked(None, SessionActor, args, supervisor)
            .await
            .map_err(|e| HubError::Unavailable(format!("cannot start a session actor: {e}")))?;
        metrics::gauge!("boothhub_session_actors").increment(1.0);
        Ok(actor)
    }

    /// The session actor of `id`, started from the store when there is none.
    pub async fn session(&self, id: BookingId) -> Result<ActorRef<SessionMsg>, HubError> {
        self.sessions
            .get_or_start(id, || async {
                let booking = self
                    .ctx
                    .store
                    .booking(id)
                    .await?
                    .ok_or(HubError::NotFound("booking"))?;
                self.spawn(booking).await
            })
            .await
    }

    /// Starts the actor of a booking just read or written.
    async fn start(&self, booking: Booking) -> Result<ActorRef<SessionMsg>, HubError> {
        self.sessions
            .get_or_start(booking.id, || self.spawn(booking.clone()))
            .await
    }

    /// Starts a failed booking's actor again from the store, if the booking is still live.
    pub async fn revive(&self, id: BookingId) -> Result<(), HubError> {
        match self.ctx.store.booking(id).await? {
            Some(booking) if booking.status.is_live() => self.start(booking).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The booth actor of `id`, started when there is none.
    pub async fn booth(&self, id: BoothId) -> Result<ActorRef<BoothMsg>, HubError> {
        self.booths
            .get_or_start(id, || async {
                let booth = self
                    .ctx
                    .store
                    .booth(id)
                    .await?
                    .ok_or(HubError::NotFound("booth"))?;
                let args = BoothArgs {
                    booth_id: id,
                    outlet_id: booth.outlet_id,
                    ctx: Arc::clone(&self.ctx),
                    scan_limit: self.scan_limit,
                    retry_base: self.retry_base,
                    max_unacked: self.max_unacked,
                };
                let (actor, _) = Actor::spawn_linked(None, BoothActor, args, self.supervisor()?)
                    .await
                    .map_err(|e| {
                        HubError::Unavailable(format!("cannot start a booth actor: {e}"))
                    })?;
                Ok::<_, HubError>(actor)
            })
            .await
    }

    /// Forgets a stopped actor of either kind; says what it owned.
    pub fn forget(&self, actor: ActorId) -> Option<Child> {
        if let Some(booth) = self.booths.forget(actor) {
            return Some(Child::Booth(booth));
        }
        let booking = self.sessions.forget(actor)?;
        metrics::gauge!("boothhub_session_actors").decrement(1.0);
        Some(Child::Session(booking))
    }

    /// Starts a stopped child again: a live booking's session, or a booth.
    pub async fn restart(&self, child: Child) -> Result<(), HubError> {
        match child {
            Child::Session(booking) => self.revive(booking).await,
            Child::Booth(booth) => self.booth(booth).await.map(|_| ()),
        }
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

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
        let now = ctx.clock.now();
        let event = Event {
            event: EventKind::BoothOffline,
            booking_id: None,
            booth_id: Some(booth.id),
            outlet_id: Some(booth.outlet_id),
            status: None,
            at: now,
            data: serde_json::json!({ "reason": "the hub restarted" }),
        };
        let presence = Presence {
            booth_id: booth.id,
            online: false,
            at: now,
        };
        let change = Change {
            presence: Some(presence),
            events: vec![event],
            ..Change::default()
        };
        let stored = ctx.store.commit(change).await?;
        ctx.presence.insert(booth.id, presence);
        ctx.publish(stored);
    }
    Ok(())
}

/// Every booth gets its actor at start, so that its stream's events are tracked for acks.
async fn start_booth_actors(
    store: &Arc<dyn Store>,
    sessions: &Sessions,
) -> Result<usize, HubError> {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = store
            .list_booths(None, &PageRequest { limit: 200, cursor })
            .await?;
        for booth in &page.items {
            if let Some(seen) = booth.last_seen_at {
                sessions.ctx.presence.insert(
                    booth.id,
                    Presence {
                        booth_id: booth.id,
                        online: false,
                        at: seen,
                    },
                );
            }
            sessions.booth(booth.id).await?;
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
    sessions: Arc<Sessions>,
    supervisor: ActorRef<SupervisorMsg>,
    directory: Directory,
    ask_timeout: Duration,
    max_streams: usize,
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
        let ctx = Arc::new(HubContext {
            store: Arc::clone(&store),
            clock,
            qr,
            router: StreamRouter::default(),
            presence: DashMap::new(),
            config: RwLock::new(config),
        });
        let sessions = Arc::new(Sessions {
            ctx: Arc::clone(&ctx),
            sessions: ActorTable::default(),
            booths: ActorTable::default(),
            supervisor: OnceLock::new(),
            scan_limit: settings.scan_limit,
            retry_base: settings.retry_base,
            max_unacked: settings.max_unacked,
            closing: std::sync::atomic::AtomicBool::new(false),
        });
        let (supervisor, _) = Actor::spawn(None, Supervisor, Arc::downgrade(&sessions))
            .await
            .map_err(|e| HubError::Unavailable(format!("cannot start the supervisor: {e}")))?;
        let _ = sessions.supervisor.set(supervisor.get_cell());
        let live = store.live_bookings().await?;
        let count = live.len();
        for booking in live {
            sessions.start(booking).await?;
        }
        info!(live_bookings = count, "session actors rehydrated");
        close_stale_presence(&ctx).await?;
        let booths = start_booth_actors(&store, &sessions).await?;
        info!(booths, "booth actors started");
        Ok(Hub {
            directory: Directory::new(Arc::clone(&store), Arc::clone(&ctx.clock)),
            ctx,
            sessions,
            supervisor,
            ask_timeout: settings.ask_timeout,
            max_streams: settings.max_streams,
        })
    }

    /// Stops every actor and waits for them.
    pub async fn shutdown(&self) {
        self.sessions
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
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

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// Every event committed on `stream` from now on, on an in-process channel.
    pub fn listen(&self, stream: &str) -> mpsc::UnboundedReceiver<Arc<Published>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.ctx.router.listen(stream, Listener::Channel(tx));
        rx
    }

    /// Starts the connection actor of a WebSocket client; it feeds `outbound` and asks for a
    /// close through `close`.
    pub async fn connect(
        &self,
        principal: Principal,
        outbound: mpsc::Sender<Outbound>,
        close: watch::Sender<Option<(u16, String)>>,
    ) -> Result<ActorRef<ConnMsg>, HubError> {
        permits(Some(&principal), Action::Subscribe)?;
        let booth = match principal.booth_id() {
            Some(id) => Some(self.sessions.booth(id).await?),
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
            Actor::spawn_linked(None, ConnectionActor, args, self.sessions.supervisor()?)
                .await
                .map_err(|e| {
                    HubError::Unavailable(format!("cannot start a connection actor: {e}"))
                })?;
        Ok(actor)
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
        self.sessions.booth(booth.id).await?;
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
            let actor = self.sessions.session(id).await?;
            match actor.call(&build, Some(self.ask_timeout)).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => {
                    return Err(HubError::Unavailable(
                        "the session did not answer in time".into(),
                    ));
                }
                Ok(CallResult::SenderError) | Err(_) => {
                    self.sessions.forget(actor.get_id());
                }
            }
        }
        Err(HubError::Unavailable(
            "the session actor keeps stopping".into(),
        ))
    }

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
        store
            .outlet(new.outlet_id)
            .await?
            .ok_or(HubError::NotFound("outlet"))?;
        let now = self.ctx.clock.now();
        let config = self.ctx.config();
        new.validate(now, &config)
            .map_err(|refusal| match refusal {
                NewBookingRefusal::Invalid(errors) => HubError::Invalid(errors),
                NewBookingRefusal::TimePassed => HubError::BookingTimePassed,
                NewBookingRefusal::TooFar => HubError::BookingTooFar,
            })?;
        let capacity = match new.booth_id {
            Some(booth_id) => {
                let booth = store.booth(booth_id).await?;
                if booth.is_none_or(|b| b.outlet_id != new.outlet_id) {
                    let msg = "is not a booth of this outlet";
                    return Err(HubError::Invalid(FieldErrors::single("booth_id", msg)));
                }
                1
            }
            None => store.count_booths(new.outlet_id).await?,
        };
        let id = BookingId::new();
        let qr = self.ctx.qr.sign(id);
        let claim = SlotClaim {
            outlet_id: new.outlet_id,
            booth_id: new.booth_id,
            slot: crate::domain::booking::Slot::of(new.booking_time, config.session_duration()),
            duration: config.session_duration(),
            capacity,
        };
        let (booking, events) = new.into_booking(id, qr, now, &config);
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
        metrics::counter!("boothhub_bookings_created_total").increment(1);
        self.sessions.start(booking.clone()).await?;
        Ok(booking)
    }

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

    pub async fn start_session(
        &self,
        caller: Principal,
        id: BookingId,
    ) -> Result<Booking, HubError> {
        permits(Some(&caller), Action::DriveSession)?;
        self.ask(id, |reply| SessionMsg::Start { caller, reply })
            .await
    }

    pub async fn finish_session(
        &self,
        caller: Principal,
        id: BookingId,
    ) -> Result<Booking, HubError> {
        permits(Some(&caller), Action::DriveSession)?;
        self.ask(id, |reply| SessionMsg::Finish { caller, reply })
            .await
    }

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
    pub async fn admit_scan(&self, booth: BoothId) -> Result<(), HubError> {
        let actor = self.sessions.booth(booth).await?;
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
            actor_id: user,
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
        for actor in self.sessions.sessions.actors() {
            let _ = actor.cast(SessionMsg::Retune);
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

#[cfg(test)]
mod tests {
    //! Real actors on the real embedded store, in a temp dir, on paused Tokio time: time moves
    //! only when the test sleeps, so 15-minute deadlines take no wall-clock time.

    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::clock::TokioClock;
    use crate::connection::{ClientRequest, Turn};
    use crate::domain::booking::Customer;
    use crate::domain::ids::OutletId;
    use crate::domain::records::{Booth, Outlet};
    use crate::store::embedded::EmbeddedStore;

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .unwrap()
    }

    struct World {
        hub: Hub,
        store: Arc<dyn Store>,
        outlet: OutletId,
        booths: Vec<Principal>,
        admin: Principal,
        _dir: tempfile::TempDir,
    }

    async fn world(booths: usize) -> World {
        world_with(booths, HubSettings::default()).await
    }

    async fn world_with(booths: usize, settings: HubSettings) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let outlet = Outlet {
            id: OutletId::new(),
            name: "Mall".into(),
            location: String::new(),
            timezone: "Asia/Jakarta".into(),
        };
        store.create_outlet(&outlet).await.unwrap();
        let mut principals = vec![];
        for n in 0..booths {
            let booth = Booth {
                id: BoothId::new(),
                outlet_id: outlet.id,
                name: format!("Booth {n}"),
                created_at: base(),
                online: false,
                last_seen_at: None,
            };
            store
                .create_booth(&booth, &format!("hash-{n}"))
                .await
                .unwrap();
            principals.push(Principal::Booth {
                booth_id: booth.id,
                outlet_id: outlet.id,
            });
        }
        let hub = start_with(&store, settings).await;
        let admin = Principal::Admin {
            user_id: UserId::new(),
            outlet_id: outlet.id,
        };
        World {
            hub,
            store,
            outlet: outlet.id,
            booths: principals,
            admin,
            _dir: dir,
        }
    }

    async fn start_with(store: &Arc<dyn Store>, settings: HubSettings) -> Hub {
        let clock = Arc::new(TokioClock::starting_at(base()));
        Hub::start(Arc::clone(store), clock, settings)
            .await
            .unwrap()
    }

    fn new_booking(world: &World, minutes: i64, paid: bool) -> NewBooking {
        NewBooking {
            user: Customer {
                name: "Sari".into(),
                phone: "0812 3456".into(),
                email: "sari@x.id".into(),
            },
            outlet_id: world.outlet,
            booth_id: None,
            booking_time: base() + chrono::Duration::minutes(minutes),
            amount: 50_000,
            paid,
        }
    }

    async fn status_of(world: &World, id: BookingId) -> Status {
        world.store.booking(id).await.unwrap().unwrap().status
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_whose_caller_stopped_waiting_is_not_applied() {
        let world = world(1).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, true))
            .await
            .unwrap();
        let actor = world.hub.sessions.session(booking.id).await.unwrap();
        // The caller's ask timed out: its end of the reply port is gone.
        let (reply, gone) = tokio::sync::oneshot::channel();
        drop(gone);
        actor
            .cast(SessionMsg::Override {
                by: world.admin,
                target: OverrideTarget::Overridden,
                reason: "late".into(),
                reply: reply.into(),
            })
            .unwrap();
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
        let mut events = world.hub.listen(&format!("outlet:{}", world.outlet));
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
    async fn a_killed_session_actor_is_restarted_from_the_store_with_its_timer() {
        let world = world(1).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, false))
            .await
            .unwrap();
        let first = world.hub.sessions().running(booking.id).unwrap();
        first.kill();
        let mut restarted = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            restarted = world
                .hub
                .sessions()
                .running(booking.id)
                .filter(|a| a.get_id() != first.get_id());
            if restarted.is_some() {
                break;
            }
        }
        assert!(
            restarted.is_some(),
            "the supervisor did not restart the session actor"
        );
        tokio::time::sleep(Duration::from_secs(16 * 60)).await;
        assert_eq!(
            status_of(&world, booking.id).await,
            Status::Expired,
            "the restarted actor re-armed its timer"
        );
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

    mod streams {
        //! Connection and booth actors: ordered delivery, gap filling, backpressure, acks.

        use std::collections::HashMap;

        use tokio::sync::{mpsc, watch};

        use super::*;
        use crate::connection::{ConnMsg, Outbound};
        use crate::domain::event::Event;

        fn outlet_event(world: &World, kind: EventKind) -> Event {
            Event {
                event: kind,
                booking_id: None,
                booth_id: None,
                outlet_id: Some(world.outlet),
                status: None,
                at: base(),
                data: serde_json::Value::Null,
            }
        }

        /// Commits events on the outlet stream without publishing them; returns them placed.
        async fn commit_quietly(world: &World, count: usize) -> Vec<Arc<Published>> {
            let events = (0..count)
                .map(|_| outlet_event(world, EventKind::ConfigUpdated))
                .collect();
            let stored = world
                .store
                .commit(Change {
                    events,
                    ..Change::default()
                })
                .await
                .unwrap();
            stored
                .into_iter()
                .map(|event| Arc::new(Published::new(event)))
                .collect()
        }

        fn seqs(received: &[Outbound]) -> Vec<u64> {
            received
                .iter()
                .filter_map(|o| match o {
                    Outbound::Event { event, .. } => Some(event.event.seq),
                    _ => None,
                })
                .collect()
        }

        /// The outlet admin's connection, subscribed to the outlet stream: its outbound queue
        /// (of `capacity`), its close signal and the stream's name.
        struct Follower {
            rx: mpsc::Receiver<Outbound>,
            closed: watch::Receiver<Option<(u16, String)>>,
            stream: String,
        }

        async fn follow(world: &World, capacity: usize) -> Follower {
            let (tx, rx) = mpsc::channel(capacity);
            let (close, closed) = watch::channel(None);
            let conn = world.hub.connect(world.admin, tx, close).await.unwrap();
            let stream = format!("outlet:{}", world.outlet);
            conn.cast(ConnMsg::Client {
                turn: Turn::default(),
                request: ClientRequest::Subscribe {
                    streams: vec![stream.clone()],
                    resume: HashMap::new(),
                },
            })
            .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            Follower { rx, closed, stream }
        }

        fn drain(rx: &mut mpsc::Receiver<Outbound>) -> Vec<Outbound> {
            let mut received = vec![];
            while let Ok(item) = rx.try_recv() {
                received.push(item);
            }
            received
        }

        #[tokio::test(start_paused = true)]
        async fn events_reach_a_client_in_seq_order_and_gaps_are_filled_from_the_log() {
            let world = world(1).await;
            let Follower {
                mut rx,
                closed: _closed,
                stream,
            } = follow(&world, 64).await;
            let subscribed = drain(&mut rx);
            assert!(
                matches!(&subscribed[..], [Outbound::Subscribed(s)] if s == &vec![(stream.clone(), 0)])
            );

            let events = commit_quietly(&world, 4).await;
            // Published out of order, and seq 3 never published at all.
            for index in [1, 0, 3] {
                world.hub.context().router.publish(&events[index]);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(seqs(&drain(&mut rx)), vec![1, 2], "held 4 until 3 shows up");
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(seqs(&drain(&mut rx)), vec![3, 4], "3 read from the log");
            // A late duplicate is dropped.
            world.hub.context().router.publish(&events[2]);
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(drain(&mut rx).is_empty());
        }

        #[tokio::test(start_paused = true)]
        async fn a_gap_that_never_reaches_the_log_is_skipped_after_ten_seconds() {
            let world = world(1).await;
            let Follower {
                mut rx,
                closed: _closed,
                stream,
            } = follow(&world, 64).await;
            drain(&mut rx);
            // Seq 2 is published; seq 1 was never written (its writer died).
            let orphan = StoredEvent {
                stream: stream.clone(),
                seq: 2,
                event: outlet_event(&world, EventKind::ConfigUpdated),
            };
            world
                .hub
                .context()
                .router
                .publish(&Arc::new(Published::new(orphan)));
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(seqs(&drain(&mut rx)).is_empty(), "still waiting for seq 1");
            tokio::time::sleep(Duration::from_secs(6)).await;
            assert_eq!(seqs(&drain(&mut rx)), vec![2], "given up on seq 1");
        }

        #[tokio::test(start_paused = true)]
        async fn a_full_queue_closes_the_connection_with_4008() {
            let world = world(1).await;
            // A client that never reads: its queue of 8 fills.
            let Follower {
                rx: _never_read,
                closed,
                stream,
            } = follow(&world, 8).await;
            for event in commit_quietly(&world, 20).await {
                world.hub.context().router.publish(&event);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            let code = closed.borrow().as_ref().map(|(code, _)| *code);
            assert_eq!(code, Some(crate::connection::CLOSE_SLOW_CONSUMER));
            assert_eq!(
                world.hub.context().router.listener_count(&stream),
                0,
                "it stopped listening"
            );
        }

        #[tokio::test(start_paused = true)]
        async fn unacked_booth_events_are_sent_six_times_then_dead_lettered() {
            let world = world(1).await;
            let booth = world.booths[0];
            let booth_id = booth.booth_id().unwrap();
            let mut failures = world.hub.listen(&format!("outlet:{}", world.outlet));
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

        #[tokio::test(start_paused = true)]
        async fn an_offline_booth_keeps_at_most_max_unacked_events_and_dead_letters_the_oldest() {
            let settings = HubSettings {
                max_unacked: 16,
                ..HubSettings::default()
            };
            let world = world_with(1, settings).await;
            let booth_id = world.booths[0].booth_id().unwrap();
            // No connection: every event of the booth's stream waits for one.
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
                .sessions()
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
            let kept: Vec<u64> = unacked.iter().map(|(seq, _)| *seq).collect();
            assert_eq!(kept, (25..=40).collect::<Vec<u64>>(), "the newest 16 of 40");
            let filter = DeadLetterFilter {
                booth_id: Some(booth_id),
                ..DeadLetterFilter::default()
            };
            let page = PageRequest {
                limit: 100,
                cursor: None,
            };
            let letters = world.store.list_dead_letters(&filter, &page).await.unwrap();
            assert_eq!(
                letters.items.len(),
                24,
                "the oldest went to the dead letters"
            );
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
            let stream = format!("booth:{booth_id}");
            conn.cast(ConnMsg::Client {
                request: ClientRequest::Ack { stream, seq: 2 },
                turn: Turn::default(),
            })
            .unwrap();
            tokio::time::sleep(Duration::from_secs(40)).await;
            assert_eq!(
                seqs(&drain(&mut rx)),
                vec![1, 2],
                "delivered once each, acked, never again"
            );
            let snapshot = world
                .hub
                .sessions()
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
}
