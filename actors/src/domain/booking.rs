//! A booking and the time rules of contract §5: the arrival window, deadlines, the slot a live
//! booking holds, and which timer is due next. Pure: "now" is always an argument.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::config::SystemConfig;
use super::event::{Event, EventKind};
use super::ids::{BookingId, BoothId, OutletId, UserId};
use super::status::{Decision, Status, Window};
use super::validate::{FieldErrors, is_email, is_phone, is_text};

/// The customer who booked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub name: String,
    pub phone: String,
    pub email: String,
}

/// A booking, which is also its session: one id, one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub user: Customer,
    pub outlet_id: OutletId,
    pub booth_id: Option<BoothId>,
    pub status: Status,
    pub booking_time: DateTime<Utc>,
    pub amount: i64,
    pub paid_at: Option<DateTime<Utc>>,
    pub arrival_deadline: DateTime<Utc>,
    pub expired_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub override_by: Option<UserId>,
    pub override_at: Option<DateTime<Utc>>,
    pub override_reason: Option<String>,
    pub qr_token: String,
    pub created_at: DateTime<Utc>,
    /// When an override re-opened the arrival window; the deadline counts from here then.
    #[serde(default)]
    pub reopened_at: Option<DateTime<Utc>>,
    /// How many changes of it have been decided: a change is committed only on the version
    /// it was decided from, so that of two nodes acting on one booking at once the second
    /// finds it changed (the CQL store's fencing, `schema/README.md`). New bookings are at 1;
    /// the embedded store, one writer, keeps it but needs no check.
    #[serde(default)]
    pub version: u64,
}

/// What a client asks for in `POST /booking`, already parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBooking {
    pub user: Customer,
    pub outlet_id: OutletId,
    pub booth_id: Option<BoothId>,
    pub booking_time: DateTime<Utc>,
    /// Left out when the outlet has a price: the booking costs that price.
    pub amount: Option<i64>,
    pub paid: bool,
}

/// How far ahead a booking may be made: a `booking_time` later than now + this many days is
/// refused with `BOOKING_TOO_FAR` (contract §5).
pub const MAX_DAYS_AHEAD: i64 = 90;

/// Why a new booking is refused before the store is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewBookingRefusal {
    /// Fields with bad values, each named (`VALIDATION_FAILED`).
    Invalid(FieldErrors),
    /// `booking_time` is earlier than now − arrival tolerance (`BOOKING_TIME_PASSED`).
    TimePassed,
    /// `booking_time` is later than now + [`MAX_DAYS_AHEAD`] days (`BOOKING_TOO_FAR`).
    TooFar,
    /// An `amount` other than the outlet's price (`AMOUNT_MISMATCH`).
    NotThePrice { price: i64 },
}

/// Which timer a live booking waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// The arrival deadline: unpaid or absent, the booking expires.
    ArrivalDeadline(DateTime<Utc>),
    /// `ends_at`: the session is done.
    SessionEnd(DateTime<Utc>),
}

impl Due {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Due::ArrivalDeadline(at) | Due::SessionEnd(at) => at,
        }
    }
}

/// The time interval a live booking claims on its booth: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Slot {
    pub fn of(booking_time: DateTime<Utc>, duration: Duration) -> Slot {
        Slot {
            start: booking_time,
            end: booking_time + duration,
        }
    }

    pub fn overlaps(&self, other: &Slot) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Who may hold a slot: at most `capacity` live bookings overlapping `slot` on `booth` (or,
/// without a booth, in the whole outlet). The store checks and inserts in one atomic step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotClaim {
    pub outlet_id: OutletId,
    pub booth_id: Option<BoothId>,
    pub slot: Slot,
    pub duration: Duration,
    pub capacity: u64,
}

impl NewBooking {
    /// Checks of contract §5 that need no store: amount, phone, email, name; the amount
    /// against the outlet's `price`; then the time, neither passed nor too far ahead. Answers
    /// what the booking costs: the outlet's price when it has one.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        config: &SystemConfig,
        price: Option<i64>,
    ) -> Result<i64, NewBookingRefusal> {
        let mut errors = FieldErrors::default();
        if !is_text(&self.user.name, 200) {
            errors.add("user.name", "must be 1 to 200 characters");
        }
        if !is_phone(&self.user.phone) {
            errors.add(
                "user.phone",
                "must be 6 to 20 characters of digits, spaces, + and -",
            );
        }
        if !is_email(&self.user.email) {
            errors.add("user.email", "must be a valid e-mail address");
        }
        match (self.amount, price) {
            (Some(amount), _) if amount <= 0 => {
                errors.add("amount", "must be a positive whole number of rupiah");
            }
            (None, None) => errors.add("amount", "is required: the outlet has no price"),
            _ => {}
        }
        errors.into_result().map_err(NewBookingRefusal::Invalid)?;
        let amount = match (self.amount, price) {
            (Some(amount), Some(price)) if amount != price => {
                return Err(NewBookingRefusal::NotThePrice { price });
            }
            (_, Some(price)) => price,
            (Some(amount), None) => amount,
            (None, None) => return Err(NewBookingRefusal::Invalid(FieldErrors::default())),
        };
        if self.booking_time < now - config.arrival_tolerance() {
            return Err(NewBookingRefusal::TimePassed);
        }
        if self.booking_time > now + Duration::days(MAX_DAYS_AHEAD) {
            return Err(NewBookingRefusal::TooFar);
        }
        Ok(amount)
    }

    /// The booking as first stored, with its `BOOKING_CREATED` event (and `PAYMENT_CONFIRMED`
    /// when paid at the counter).
    /// `amount` is what [`NewBooking::validate`] answered.
    pub fn into_booking(
        self,
        id: BookingId,
        qr_token: String,
        now: DateTime<Utc>,
        config: &SystemConfig,
        amount: i64,
    ) -> (Booking, Vec<Event>) {
        let mut booking = Booking {
            id,
            user: self.user,
            outlet_id: self.outlet_id,
            booth_id: self.booth_id,
            status: Status::PendingPayment,
            booking_time: self.booking_time,
            amount,
            paid_at: None,
            arrival_deadline: self.booking_time + config.arrival_tolerance(),
            expired_at: None,
            started_at: None,
            ends_at: None,
            finished_at: None,
            override_by: None,
            override_at: None,
            override_reason: None,
            qr_token,
            created_at: now,
            reopened_at: None,
            version: 1,
        };
        let mut events = vec![booking.event(EventKind::BookingCreated, now)];
        if self.paid {
            booking.paid_at = Some(now);
            booking.status = Status::AwaitingCustomer;
            events.push(booking.event(EventKind::PaymentConfirmed, now));
        }
        (booking, events)
    }
}

impl Booking {
    /// The arrival window opens `tolerance` before the booking time.
    pub fn window_opens(&self, config: &SystemConfig) -> DateTime<Utc> {
        self.booking_time - config.arrival_tolerance()
    }

    /// Where `now` falls in `[booking_time − tolerance, arrival_deadline]`. A window re-opened
    /// by an override is open from the override on.
    pub fn window(&self, now: DateTime<Utc>, config: &SystemConfig) -> Window {
        let opens = match self.reopened_at {
            Some(reopened) => reopened.min(self.window_opens(config)),
            None => self.window_opens(config),
        };
        if now < opens {
            Window::Before
        } else if now > self.arrival_deadline {
            Window::After
        } else {
            Window::Inside
        }
    }

    /// The deadline under `config`: tolerance after the booking time, or after the override
    /// that re-opened the window.
    pub fn deadline_under(&self, config: &SystemConfig) -> DateTime<Utc> {
        self.reopened_at.unwrap_or(self.booking_time) + config.arrival_tolerance()
    }

    /// Whether a change of tolerance moves this booking's deadline (it still awaits arrival).
    pub fn awaits_arrival(&self) -> bool {
        matches!(
            self.status,
            Status::PendingPayment | Status::Paid | Status::AwaitingCustomer
        )
    }

    /// The next timer of a live booking, if any.
    pub fn due(&self) -> Option<Due> {
        match self.status {
            Status::PendingPayment | Status::Paid | Status::AwaitingCustomer => {
                Some(Due::ArrivalDeadline(self.arrival_deadline))
            }
            Status::Ongoing => self.ends_at.map(Due::SessionEnd),
            Status::Arrived | Status::Done | Status::Expired | Status::Overridden => None,
        }
    }

    pub fn slot(&self, config: &SystemConfig) -> Slot {
        Slot::of(self.booking_time, config.session_duration())
    }

    /// An event about this booking, carrying its current status.
    pub fn event(&self, kind: EventKind, at: DateTime<Utc>) -> Event {
        Event {
            event: kind,
            booking_id: Some(self.id),
            booth_id: self.booth_id,
            outlet_id: Some(self.outlet_id),
            status: Some(self.status),
            at,
            data: serde_json::Value::Null,
        }
    }

    /// Applies a decision's move, stamping the times that go with the new status.
    pub fn apply(&mut self, decision: &Decision, now: DateTime<Utc>, config: &SystemConfig) {
        let Some(to) = decision.to else { return };
        self.status = to;
        match to {
            Status::AwaitingCustomer if self.paid_at.is_none() => self.paid_at = Some(now),
            Status::Expired => self.expired_at = Some(now),
            Status::Ongoing => {
                self.started_at = Some(now);
                self.ends_at = Some(now + config.session_duration());
            }
            Status::Done => self.finished_at = Some(now),
            _ => {}
        }
    }

    /// Records an override on the booking: who, when, why, and re-opens the window when the
    /// target is `AWAITING_CUSTOMER`.
    pub fn record_override(
        &mut self,
        by: UserId,
        reason: &str,
        now: DateTime<Utc>,
        config: &SystemConfig,
    ) {
        self.override_by = Some(by);
        self.override_at = Some(now);
        self.override_reason = Some(reason.to_owned());
        if self.status == Status::AwaitingCustomer {
            self.reopened_at = Some(now);
            self.arrival_deadline = now + config.arrival_tolerance();
            self.expired_at = None;
        }
        if self.status == Status::Arrived {
            self.started_at = None;
            self.ends_at = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::{OverrideTarget, Trigger, decide};
    use chrono::TimeZone;

    fn t(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::minutes(minute)
    }

    fn config() -> SystemConfig {
        SystemConfig::default()
    }

    fn new_booking(at: DateTime<Utc>, paid: bool) -> NewBooking {
        NewBooking {
            user: Customer {
                name: "Sari".into(),
                phone: "+62 812 3456".into(),
                email: "sari@example.com".into(),
            },
            outlet_id: OutletId::new(),
            booth_id: None,
            booking_time: at,
            amount: Some(50_000),
            paid,
        }
    }

    fn booking(at: DateTime<Utc>) -> Booking {
        new_booking(at, true)
            .into_booking(BookingId::new(), "qr".into(), t(-60), &config(), 50_000)
            .0
    }

    #[test]
    fn window_positions_with_a_tolerance_of_fifteen_minutes() {
        let b = booking(t(0));
        let cases = [
            (t(-16), Window::Before),
            (t(-15), Window::Inside),
            (t(0), Window::Inside),
            (t(15), Window::Inside),
            (t(15) + Duration::milliseconds(1), Window::After),
        ];
        for (now, want) in cases {
            assert_eq!(b.window(now, &config()), want, "at {now}");
        }
    }

    #[test]
    fn a_booking_paid_at_the_counter_awaits_the_customer_with_two_events() {
        let (b, events) = new_booking(t(0), true).into_booking(
            BookingId::new(),
            "qr".into(),
            t(-5),
            &config(),
            50_000,
        );
        assert_eq!(b.status, Status::AwaitingCustomer);
        assert_eq!(b.paid_at, Some(t(-5)));
        assert_eq!(b.arrival_deadline, t(15));
        let kinds: Vec<EventKind> = events.iter().map(|e| e.event).collect();
        assert_eq!(
            kinds,
            vec![EventKind::BookingCreated, EventKind::PaymentConfirmed]
        );
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut bad = new_booking(t(0), false);
        bad.user.phone = "12".into();
        bad.user.email = "nope".into();
        bad.amount = Some(0);
        let Err(NewBookingRefusal::Invalid(errors)) = bad.validate(t(0), &config(), None) else {
            panic!("bad fields are invalid");
        };
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(fields, vec!["amount", "user.email", "user.phone"]);
    }

    #[test]
    fn booking_time_must_be_neither_passed_nor_more_than_ninety_days_ahead() {
        // The tolerance is 15 minutes; now is t(0).
        let ninety_days = Duration::days(MAX_DAYS_AHEAD);
        let ms = Duration::milliseconds(1);
        let cases = [
            (t(-16), Err(NewBookingRefusal::TimePassed)),
            (t(-15) - ms, Err(NewBookingRefusal::TimePassed)),
            (t(-15), Ok(50_000)),
            (t(0), Ok(50_000)),
            (t(0) + Duration::days(30), Ok(50_000)),
            (t(0) + ninety_days, Ok(50_000)),
            (t(0) + ninety_days + ms, Err(NewBookingRefusal::TooFar)),
            (t(0) + Duration::days(365), Err(NewBookingRefusal::TooFar)),
        ];
        for (at, want) in cases {
            assert_eq!(
                new_booking(at, false).validate(t(0), &config(), None),
                want,
                "booking at {at}"
            );
        }
        assert_eq!(MAX_DAYS_AHEAD, 90, "contract §5");
    }

    #[test]
    fn bad_fields_are_named_before_the_time_is_judged() {
        let mut bad = new_booking(t(0) + Duration::days(400), false);
        bad.amount = Some(-1);
        assert_eq!(
            bad.validate(t(0), &config(), Some(50_000)),
            Err(NewBookingRefusal::Invalid(FieldErrors::single(
                "amount",
                "must be a positive whole number of rupiah"
            )))
        );
    }

    #[test]
    fn a_booking_costs_the_outlets_price_when_it_has_one() {
        let refuse = |fields: &str, msg: &str| {
            Err(NewBookingRefusal::Invalid(FieldErrors::single(fields, msg)))
        };
        let positive = "must be a positive whole number of rupiah";
        let cases = [
            // (amount asked, outlet price, outcome)
            (Some(40_000), None, Ok(40_000)),
            (None, Some(35_000), Ok(35_000)),
            (Some(35_000), Some(35_000), Ok(35_000)),
            (
                Some(1),
                Some(35_000),
                Err(NewBookingRefusal::NotThePrice { price: 35_000 }),
            ),
            (
                None,
                None,
                refuse("amount", "is required: the outlet has no price"),
            ),
            (Some(0), None, refuse("amount", positive)),
            (Some(-5), Some(35_000), refuse("amount", positive)),
        ];
        for (amount, price, want) in cases {
            let new = NewBooking {
                amount,
                ..new_booking(t(0), false)
            };
            assert_eq!(
                new.validate(t(0), &config(), price),
                want,
                "amount {amount:?}, price {price:?}"
            );
        }
    }

    #[test]
    fn slots_overlap_only_when_they_share_time() {
        let d = Duration::minutes(15);
        let a = Slot::of(t(0), d);
        assert!(a.overlaps(&Slot::of(t(14), d)));
        assert!(a.overlaps(&Slot::of(t(-14), d)));
        assert!(!a.overlaps(&Slot::of(t(15), d)));
        assert!(!a.overlaps(&Slot::of(t(-15), d)));
    }

    #[test]
    fn timers_follow_the_status() {
        let mut b = booking(t(0));
        assert_eq!(b.due(), Some(Due::ArrivalDeadline(t(15))));
        b.apply(
            &decide(b.status, Trigger::Arrival(Window::Inside)),
            t(1),
            &config(),
        );
        assert_eq!(b.due(), None);
        b.apply(&decide(b.status, Trigger::Start), t(2), &config());
        assert_eq!(b.status, Status::Ongoing);
        assert_eq!(b.due(), Some(Due::SessionEnd(t(17))));
        b.apply(&decide(b.status, Trigger::SessionEnded), t(17), &config());
        assert_eq!(
            (b.status, b.finished_at, b.due()),
            (Status::Done, Some(t(17)), None)
        );
    }

    #[test]
    fn an_override_to_awaiting_customer_reopens_the_window() {
        let mut b = booking(t(0));
        b.apply(&decide(b.status, Trigger::DeadlinePassed), t(16), &config());
        assert_eq!(b.status, Status::Expired);
        let reopen = decide(
            b.status,
            Trigger::Override(OverrideTarget::AwaitingCustomer),
        );
        b.apply(&reopen, t(60), &config());
        b.record_override(UserId::new(), "customer stuck in traffic", t(60), &config());
        assert_eq!(b.status, Status::AwaitingCustomer);
        assert_eq!(b.arrival_deadline, t(75));
        assert_eq!(b.expired_at, None);
        assert_eq!(b.window(t(70), &config()), Window::Inside);
        assert_eq!(
            b.deadline_under(&SystemConfig {
                arrival_tolerance_minutes: 5,
                ..config()
            }),
            t(65)
        );
    }
}
