//! The status machine of contract §5: (status, trigger, window position) → decision.
//! Pure: never awaits, never reads the clock. The caller applies a [`Decision`] to a booking.

use serde::{Deserialize, Serialize};

use super::kind::EventKind;

/// Every status a booking can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    PendingPayment,
    Paid,
    AwaitingCustomer,
    Arrived,
    Ongoing,
    Done,
    Expired,
    Overridden,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::PendingPayment,
        Status::Paid,
        Status::AwaitingCustomer,
        Status::Arrived,
        Status::Ongoing,
        Status::Done,
        Status::Expired,
        Status::Overridden,
    ];

    /// A live booking holds its slot and has a session actor with timers.
    pub fn is_live(self) -> bool {
        !matches!(self, Status::Done | Status::Expired | Status::Overridden)
    }

    /// The contract's spelling, e.g. `PENDING_PAYMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingPayment => "PENDING_PAYMENT",
            Status::Paid => "PAID",
            Status::AwaitingCustomer => "AWAITING_CUSTOMER",
            Status::Arrived => "ARRIVED",
            Status::Ongoing => "ONGOING",
            Status::Done => "DONE",
            Status::Expired => "EXPIRED",
            Status::Overridden => "OVERRIDDEN",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// Where "now" falls relative to the arrival window `[booking_time − tolerance, arrival_deadline]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Before,
    Inside,
    After,
}

/// The statuses an admin may force with an override.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OverrideTarget {
    AwaitingCustomer,
    Arrived,
    Done,
    Overridden,
}

impl OverrideTarget {
    pub fn status(self) -> Status {
        match self {
            OverrideTarget::AwaitingCustomer => Status::AwaitingCustomer,
            OverrideTarget::Arrived => Status::Arrived,
            OverrideTarget::Done => Status::Done,
            OverrideTarget::Overridden => Status::Overridden,
        }
    }
}

/// What happened to a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A valid `SUCCESS` webhook whose amount matches.
    PaymentSucceeded,
    /// A QR scan, with where it falls in the arrival window.
    Arrival(Window),
    Start,
    Finish,
    /// The arrival deadline passed (timer, or found passed at start-up).
    DeadlinePassed,
    /// `ends_at` passed.
    SessionEnded,
    Override(OverrideTarget),
}

/// Why a request was refused; each maps to one error code of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    TooEarly,
    Expired,
    NotPaid,
    InvalidTransition,
    BookingExpired,
}

/// The outcome of a trigger: an optional move, an optional event, an optional refusal.
/// A refusal may still move the booking (an arrival after the deadline expires it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub to: Option<Status>,
    pub event: Option<EventKind>,
    pub refusal: Option<Refusal>,
}

impl Decision {
    const fn moves(to: Status, event: EventKind) -> Self {
        Decision {
            to: Some(to),
            event: Some(event),
            refusal: None,
        }
    }
    const fn refuses(refusal: Refusal, event: Option<EventKind>) -> Self {
        Decision {
            to: None,
            event,
            refusal: Some(refusal),
        }
    }
    /// A safe retry of a transition that already happened: 200, nothing changes.
    const fn repeat() -> Self {
        Decision {
            to: None,
            event: None,
            refusal: None,
        }
    }
    /// A timer that no longer applies: nothing happens, nobody is told.
    const fn nothing() -> Self {
        Decision {
            to: None,
            event: None,
            refusal: None,
        }
    }
}

/// Decides what `trigger` does to a booking in `status`. Total: every pair has an answer.
pub fn decide(status: Status, trigger: Trigger) -> Decision {
    use EventKind::*;
    use Status::*;
    match (status, trigger) {
        (_, Trigger::Override(target)) => Decision::moves(target.status(), SessionOverride),

        (PendingPayment | Paid, Trigger::PaymentSucceeded) => {
            Decision::moves(AwaitingCustomer, PaymentConfirmed)
        }
        (Expired, Trigger::PaymentSucceeded) => Decision::refuses(Refusal::BookingExpired, None),
        (_, Trigger::PaymentSucceeded) => Decision::refuses(Refusal::InvalidTransition, None),

        (PendingPayment, Trigger::Arrival(_)) => {
            Decision::refuses(Refusal::NotPaid, Some(SessionRejected))
        }
        (Paid | AwaitingCustomer, Trigger::Arrival(Window::Before)) => {
            Decision::refuses(Refusal::TooEarly, Some(SessionRejected))
        }
        (Paid | AwaitingCustomer, Trigger::Arrival(Window::Inside)) => {
            Decision::moves(Arrived, SessionApproved)
        }
        (Paid | AwaitingCustomer, Trigger::Arrival(Window::After)) => Decision {
            to: Some(Expired),
            event: Some(SessionExpired),
            refusal: Some(Refusal::Expired),
        },
        (Expired, Trigger::Arrival(_)) => {
            Decision::refuses(Refusal::Expired, Some(SessionRejected))
        }
        (Arrived, Trigger::Arrival(_)) => Decision::repeat(),
        (Ongoing | Done | Overridden, Trigger::Arrival(_)) => {
            Decision::refuses(Refusal::InvalidTransition, Some(SessionRejected))
        }

        (Arrived, Trigger::Start) => Decision::moves(Ongoing, SessionStarted),
        (Ongoing, Trigger::Start) => Decision::repeat(),
        (_, Trigger::Start) => Decision::refuses(Refusal::InvalidTransition, None),

        (Ongoing, Trigger::Finish) => Decision::moves(Done, SessionDone),
        (Done, Trigger::Finish) => Decision::repeat(),
        (_, Trigger::Finish) => Decision::refuses(Refusal::InvalidTransition, None),

        (PendingPayment | Paid | AwaitingCustomer, Trigger::DeadlinePassed) => {
            Decision::moves(Expired, SessionExpired)
        }
        (_, Trigger::DeadlinePassed) => Decision::nothing(),

        (Ongoing, Trigger::SessionEnded) => Decision::moves(Done, SessionDone),
        (_, Trigger::SessionEnded) => Decision::nothing(),
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind::*;
    use super::Status::*;
    use super::*;

    const OK: Option<Refusal> = None;

    fn triggers() -> Vec<Trigger> {
        let mut all = vec![
            Trigger::PaymentSucceeded,
            Trigger::Arrival(Window::Before),
            Trigger::Arrival(Window::Inside),
            Trigger::Arrival(Window::After),
            Trigger::Start,
            Trigger::Finish,
            Trigger::DeadlinePassed,
            Trigger::SessionEnded,
        ];
        for target in [
            OverrideTarget::AwaitingCustomer,
            OverrideTarget::Arrived,
            OverrideTarget::Done,
            OverrideTarget::Overridden,
        ] {
            all.push(Trigger::Override(target));
        }
        all
    }

    type Row = (
        Status,
        Trigger,
        Option<Status>,
        Option<EventKind>,
        Option<Refusal>,
    );

    /// The expected answer for every (status, trigger) pair except overrides, which move any
    /// status to their target (checked below). A pair missing from this table fails the test.
    #[rustfmt::skip]
    fn table() -> Vec<Row> {
        use Trigger as T;
        use Window::*;
        use Refusal as R;
        let mut rows = vec![];
        // PENDING_PAYMENT
        rows.extend([
            (PendingPayment, T::PaymentSucceeded, Some(AwaitingCustomer), Some(PaymentConfirmed), OK),
            (PendingPayment, T::Arrival(Before), None, Some(SessionRejected), Some(R::NotPaid)),
            (PendingPayment, T::Arrival(Inside), None, Some(SessionRejected), Some(R::NotPaid)),
            (PendingPayment, T::Arrival(After), None, Some(SessionRejected), Some(R::NotPaid)),
            (PendingPayment, T::Start, None, None, Some(R::InvalidTransition)),
            (PendingPayment, T::Finish, None, None, Some(R::InvalidTransition)),
            (PendingPayment, T::DeadlinePassed, Some(Expired), Some(SessionExpired), OK),
            (PendingPayment, T::SessionEnded, None, None, OK),
        ]);
        // PAID (transient: a paid booking moves on to AWAITING_CUSTOMER at once)
        rows.extend([
            (Paid, T::PaymentSucceeded, Some(AwaitingCustomer), Some(PaymentConfirmed), OK),
            (Paid, T::Arrival(Before), None, Some(SessionRejected), Some(R::TooEarly)),
            (Paid, T::Arrival(Inside), Some(Arrived), Some(SessionApproved), OK),
            (Paid, T::Arrival(After), Some(Expired), Some(SessionExpired), Some(R::Expired)),
            (Paid, T::Start, None, None, Some(R::InvalidTransition)),
            (Paid, T::Finish, None, None, Some(R::InvalidTransition)),
            (Paid, T::DeadlinePassed, Some(Expired), Some(SessionExpired), OK),
            (Paid, T::SessionEnded, None, None, OK),
        ]);
        // AWAITING_CUSTOMER
        rows.extend([
            (AwaitingCustomer, T::PaymentSucceeded, None, None, Some(R::InvalidTransition)),
            (AwaitingCustomer, T::Arrival(Before), None, Some(SessionRejected), Some(R::TooEarly)),
            (AwaitingCustomer, T::Arrival(Inside), Some(Arrived), Some(SessionApproved), OK),
            (AwaitingCustomer, T::Arrival(After), Some(Expired), Some(SessionExpired), Some(R::Expired)),
            (AwaitingCustomer, T::Start, None, None, Some(R::InvalidTransition)),
            (AwaitingCustomer, T::Finish, None, None, Some(R::InvalidTransition)),
            (AwaitingCustomer, T::DeadlinePassed, Some(Expired), Some(SessionExpired), OK),
            (AwaitingCustomer, T::SessionEnded, None, None, OK),
        ]);
        // ARRIVED
        rows.extend([
            (Arrived, T::PaymentSucceeded, None, None, Some(R::InvalidTransition)),
            (Arrived, T::Arrival(Before), None, None, OK),
            (Arrived, T::Arrival(Inside), None, None, OK),
            (Arrived, T::Arrival(After), None, None, OK),
            (Arrived, T::Start, Some(Ongoing), Some(SessionStarted), OK),
            (Arrived, T::Finish, None, None, Some(R::InvalidTransition)),
            (Arrived, T::DeadlinePassed, None, None, OK),
            (Arrived, T::SessionEnded, None, None, OK),
        ]);
        // ONGOING
        rows.extend([
            (Ongoing, T::PaymentSucceeded, None, None, Some(R::InvalidTransition)),
            (Ongoing, T::Arrival(Before), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Ongoing, T::Arrival(Inside), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Ongoing, T::Arrival(After), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Ongoing, T::Start, None, None, OK),
            (Ongoing, T::Finish, Some(Done), Some(SessionDone), OK),
            (Ongoing, T::DeadlinePassed, None, None, OK),
            (Ongoing, T::SessionEnded, Some(Done), Some(SessionDone), OK),
        ]);
        // DONE
        rows.extend([
            (Done, T::PaymentSucceeded, None, None, Some(R::InvalidTransition)),
            (Done, T::Arrival(Before), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Done, T::Arrival(Inside), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Done, T::Arrival(After), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Done, T::Start, None, None, Some(R::InvalidTransition)),
            (Done, T::Finish, None, None, OK),
            (Done, T::DeadlinePassed, None, None, OK),
            (Done, T::SessionEnded, None, None, OK),
        ]);
        // EXPIRED
        rows.extend([
            (Expired, T::PaymentSucceeded, None, None, Some(R::BookingExpired)),
            (Expired, T::Arrival(Before), None, Some(SessionRejected), Some(R::Expired)),
            (Expired, T::Arrival(Inside), None, Some(SessionRejected), Some(R::Expired)),
            (Expired, T::Arrival(After), None, Some(SessionRejected), Some(R::Expired)),
            (Expired, T::Start, None, None, Some(R::InvalidTransition)),
            (Expired, T::Finish, None, None, Some(R::InvalidTransition)),
            (Expired, T::DeadlinePassed, None, None, OK),
            (Expired, T::SessionEnded, None, None, OK),
        ]);
        // OVERRIDDEN
        rows.extend([
            (Overridden, T::PaymentSucceeded, None, None, Some(R::InvalidTransition)),
            (Overridden, T::Arrival(Before), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Overridden, T::Arrival(Inside), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Overridden, T::Arrival(After), None, Some(SessionRejected), Some(R::InvalidTransition)),
            (Overridden, T::Start, None, None, Some(R::InvalidTransition)),
            (Overridden, T::Finish, None, None, Some(R::InvalidTransition)),
            (Overridden, T::DeadlinePassed, None, None, OK),
            (Overridden, T::SessionEnded, None, None, OK),
        ]);
        rows
    }

    #[test]
    fn every_status_and_trigger_has_the_expected_decision() {
        let table = table();
        for status in Status::ALL {
            for trigger in triggers() {
                let got = decide(status, trigger);
                if let Trigger::Override(target) = trigger {
                    let want = Decision::moves(target.status(), SessionOverride);
                    assert_eq!(got, want, "{status:?} × {trigger:?}");
                    continue;
                }
                let row = table
                    .iter()
                    .find(|(s, t, ..)| *s == status && *t == trigger)
                    .unwrap_or_else(|| panic!("no expectation for {status:?} × {trigger:?}"));
                let want = Decision {
                    to: row.2,
                    event: row.3,
                    refusal: row.4,
                };
                assert_eq!(got, want, "{status:?} × {trigger:?}");
            }
        }
        assert_eq!(
            table.len(),
            Status::ALL.len() * 8,
            "the table has a row too many"
        );
    }

    #[test]
    fn live_statuses_are_the_ones_that_hold_a_slot() {
        let live: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(
            live,
            vec![PendingPayment, Paid, AwaitingCustomer, Arrived, Ongoing]
        );
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(Status::parse("pending_payment"), None);
    }
}
