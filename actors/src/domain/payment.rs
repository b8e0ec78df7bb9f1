//! The payment webhook's rules (contract §6) once the signature is verified: what a
//! notification does, whether the payment must be refunded, and the outcome that is stored so
//! that a replay answers the same. Pure: no store, no clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::booking::Booking;
use super::ids::{BookingId, OutletId, PaymentId, UserId};
use super::status::{Refusal, Status, Trigger, decide};

/// The one currency the hub takes: bookings are priced in rupiah.
pub const CURRENCY: &str = "IDR";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Success,
    Failed,
}

/// A verified notification from the payment provider.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentNotice {
    pub event_id: String,
    pub booking_id: BookingId,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: String,
    pub paid_at: Option<DateTime<Utc>>,
    /// The raw body, kept as received.
    pub raw: String,
    /// SHA-256 of the raw body, hex: tells a replay from a reuse of the event id.
    pub body_hash: String,
}

/// What the first delivery of an event id was answered; replays answer the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentOutcome {
    /// `SUCCESS` applied: the booking awaits its customer.
    Confirmed {
        booking_status: Status,
    },
    /// `FAILED` recorded; the booking is unchanged.
    Failed {
        booking_status: Status,
    },
    /// The amount or the currency is not the booking's; the booking is unchanged.
    AmountMismatch {
        expected: i64,
        received: i64,
        /// `None` in outcomes stored before the currency was checked: they replay as answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_currency: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_currency: Option<String>,
    },
    /// Paid too late: kept and flagged for refund.
    BookingExpired,
    /// Paid for a booking that is past payment (e.g. paid twice): kept and flagged for refund.
    InvalidTransition {
        booking_status: Status,
    },
    UnknownBooking,
}

impl PaymentOutcome {
    /// Whether an admin must refund a payment with this outcome: money that came in (a
    /// `SUCCESS`) and did not pay for its booking. A `FAILED` moved no money.
    pub fn needs_refund(&self, status: PaymentStatus) -> bool {
        let unused = match self {
            PaymentOutcome::Confirmed { .. } | PaymentOutcome::Failed { .. } => false,
            PaymentOutcome::AmountMismatch { .. }
            | PaymentOutcome::BookingExpired
            | PaymentOutcome::InvalidTransition { .. }
            | PaymentOutcome::UnknownBooking => true,
        };
        unused && status == PaymentStatus::Success
    }
}

/// A stored payment notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub event_id: String,
    pub booking_id: BookingId,
    /// The booking's outlet; `None` when the booking is unknown.
    pub outlet_id: Option<OutletId>,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: String,
    pub raw: String,
    pub body_hash: String,
    pub outcome: PaymentOutcome,
    pub refund_required: bool,
    pub received_at: DateTime<Utc>,
    /// When an admin marked the flagged payment refunded (the money goes back outside the hub).
    #[serde(default)]
    pub refunded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub refunded_by: Option<UserId>,
    #[serde(default)]
    pub refund_reason: Option<String>,
}

/// Why a payment cannot be marked refunded (`NOT_REFUNDABLE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotRefundable {
    /// It was not flagged: the booking took it.
    NotFlagged,
    AlreadyRefunded,
}

impl Payment {
    pub fn record(
        notice: &PaymentNotice,
        outlet_id: Option<OutletId>,
        outcome: PaymentOutcome,
        now: DateTime<Utc>,
    ) -> Payment {
        Payment {
            event_id: notice.event_id.clone(),
            booking_id: notice.booking_id,
            outlet_id,
            status: notice.status,
            amount: notice.amount,
            currency: notice.currency.clone(),
            raw: notice.raw.clone(),
            body_hash: notice.body_hash.clone(),
            refund_required: outcome.needs_refund(notice.status),
            outcome,
            received_at: now,
            refunded_at: None,
            refunded_by: None,
            refund_reason: None,
        }
    }

    pub fn id(&self) -> PaymentId {
        PaymentId::of_event(&self.event_id)
    }

    /// The payment marked refunded by `by` for `reason`: only a flagged payment, once.
    pub fn refunded(
        &self,
        by: UserId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Payment, NotRefundable> {
        if !self.refund_required {
            return Err(NotRefundable::NotFlagged);
        }
        if self.refunded_at.is_some() {
            return Err(NotRefundable::AlreadyRefunded);
        }
        Ok(Payment {
            refunded_at: Some(now),
            refunded_by: Some(by),
            refund_reason: Some(reason.to_owned()),
            ..self.clone()
        })
    }
}

/// What a notification does to `booking`: the outcome, and whether it confirms the payment.
/// A wrong amount or currency is refused whatever the status (contract §6); then a `FAILED`
/// is recorded; a `SUCCESS` moves the booking if its status allows.
pub fn judge(notice: &PaymentNotice, booking: &Booking) -> (PaymentOutcome, bool) {
    if notice.amount != booking.amount || notice.currency != CURRENCY {
        let mismatch = PaymentOutcome::AmountMismatch {
            expected: booking.amount,
            received: notice.amount,
            expected_currency: Some(CURRENCY.to_owned()),
            received_currency: Some(notice.currency.clone()),
        };
        return (mismatch, false);
    }
    if notice.status == PaymentStatus::Failed {
        return (
            PaymentOutcome::Failed {
                booking_status: booking.status,
            },
            false,
        );
    }
    let decision = decide(booking.status, Trigger::PaymentSucceeded);
    match decision.refusal {
        None => (
            PaymentOutcome::Confirmed {
                booking_status: Status::AwaitingCustomer,
            },
            true,
        ),
        Some(Refusal::BookingExpired) => (PaymentOutcome::BookingExpired, false),
        Some(_) => (
            PaymentOutcome::InvalidTransition {
                booking_status: booking.status,
            },
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::booking::{Customer, NewBooking};
    use crate::domain::config::SystemConfig;
    use crate::domain::ids::OutletId;

    fn booking(status: Status) -> Booking {
        let new = NewBooking {
            user: Customer {
                name: "A".into(),
                phone: "0812345".into(),
                email: "a@b.co".into(),
            },
            outlet_id: OutletId::new(),
            booth_id: None,
            booking_time: DateTime::UNIX_EPOCH,
            amount: Some(35_000),
            paid: false,
        };
        let (mut b, _) = new.into_booking(
            BookingId::new(),
            "qr".into(),
            DateTime::UNIX_EPOCH,
            &SystemConfig::default(),
            35_000,
        );
        b.status = status;
        b
    }

    fn notice(status: PaymentStatus, amount: i64, currency: &str) -> PaymentNotice {
        PaymentNotice {
            event_id: "evt_1".into(),
            booking_id: BookingId::new(),
            status,
            amount,
            currency: currency.into(),
            paid_at: None,
            raw: "{}".into(),
            body_hash: "h".into(),
        }
    }

    fn mismatch(received: i64, currency: &str) -> PaymentOutcome {
        PaymentOutcome::AmountMismatch {
            expected: 35_000,
            received,
            expected_currency: Some("IDR".into()),
            received_currency: Some(currency.into()),
        }
    }

    #[test]
    fn outcomes() {
        use PaymentStatus::*;
        use Status::*;
        let confirmed = PaymentOutcome::Confirmed {
            booking_status: AwaitingCustomer,
        };
        let cases = [
            (
                PendingPayment,
                Success,
                35_000,
                "IDR",
                confirmed.clone(),
                true,
            ),
            (Paid, Success, 35_000, "IDR", confirmed, true),
            (PendingPayment, Success, 1, "IDR", mismatch(1, "IDR"), false),
            (
                PendingPayment,
                Success,
                35_001,
                "IDR",
                mismatch(35_001, "IDR"),
                false,
            ),
            (
                PendingPayment,
                Success,
                35_000,
                "USD",
                mismatch(35_000, "USD"),
                false,
            ),
            (
                PendingPayment,
                Success,
                35_000,
                "idr",
                mismatch(35_000, "idr"),
                false,
            ),
            (
                PendingPayment,
                Success,
                35_000,
                "",
                mismatch(35_000, ""),
                false,
            ),
            (PendingPayment, Success, 1, "USD", mismatch(1, "USD"), false),
            (Expired, Success, 1, "IDR", mismatch(1, "IDR"), false),
            (
                PendingPayment,
                Failed,
                35_000,
                "IDR",
                PaymentOutcome::Failed {
                    booking_status: PendingPayment,
                },
                false,
            ),
            (PendingPayment, Failed, 1, "IDR", mismatch(1, "IDR"), false),
            (
                PendingPayment,
                Failed,
                35_000,
                "USD",
                mismatch(35_000, "USD"),
                false,
            ),
            (
                Expired,
                Failed,
                35_000,
                "IDR",
                PaymentOutcome::Failed {
                    booking_status: Expired,
                },
                false,
            ),
            (
                Expired,
                Success,
                35_000,
                "IDR",
                PaymentOutcome::BookingExpired,
                false,
            ),
            (
                AwaitingCustomer,
                Success,
                35_000,
                "IDR",
                PaymentOutcome::InvalidTransition {
                    booking_status: AwaitingCustomer,
                },
                false,
            ),
        ];
        for (status, paid, amount, currency, want, confirms) in cases {
            let got = judge(&notice(paid, amount, currency), &booking(status));
            assert_eq!(
                got,
                (want, confirms),
                "{status:?} {paid:?} {amount} {currency}"
            );
        }
    }

    #[test]
    fn a_success_that_pays_for_nothing_is_flagged_for_refund() {
        use PaymentStatus::*;
        let outcomes = [
            (
                PaymentOutcome::Confirmed {
                    booking_status: Status::AwaitingCustomer,
                },
                false,
            ),
            (
                PaymentOutcome::Failed {
                    booking_status: Status::PendingPayment,
                },
                false,
            ),
            (mismatch(1, "IDR"), true),
            (mismatch(35_000, "USD"), true),
            (PaymentOutcome::BookingExpired, true),
            (
                PaymentOutcome::InvalidTransition {
                    booking_status: Status::Done,
                },
                true,
            ),
            (PaymentOutcome::UnknownBooking, true),
        ];
        for (outcome, flagged) in outcomes {
            for status in [Success, Failed] {
                let want = flagged && status == Success;
                let payment = Payment::record(
                    &notice(status, 1, "IDR"),
                    None,
                    outcome.clone(),
                    DateTime::UNIX_EPOCH,
                );
                assert_eq!(payment.refund_required, want, "{outcome:?} {status:?}");
                assert_eq!(outcome.needs_refund(status), want, "{outcome:?} {status:?}");
            }
        }
    }

    #[test]
    fn outcomes_stored_before_the_currency_check_still_read_and_replay_alike() {
        let old = r#"{"outcome":"AMOUNT_MISMATCH","expected":35000,"received":1}"#;
        let outcome: PaymentOutcome = serde_json::from_str(old).unwrap();
        assert_eq!(
            outcome,
            PaymentOutcome::AmountMismatch {
                expected: 35_000,
                received: 1,
                expected_currency: None,
                received_currency: None,
            }
        );
        assert_eq!(serde_json::to_string(&outcome).unwrap(), old);
        let new = serde_json::to_value(mismatch(1, "USD")).unwrap();
        assert_eq!(
            new,
            serde_json::json!({
                "outcome": "AMOUNT_MISMATCH",
                "expected": 35000,
                "received": 1,
                "expected_currency": "IDR",
                "received_currency": "USD",
            })
        );
        assert_eq!(
            serde_json::from_value::<PaymentOutcome>(new).unwrap(),
            mismatch(1, "USD")
        );
    }

    #[test]
    fn only_a_flagged_payment_is_marked_refunded_and_only_once() {
        let flagged = Payment::record(
            &notice(PaymentStatus::Success, 1, CURRENCY),
            None,
            PaymentOutcome::UnknownBooking,
            DateTime::UNIX_EPOCH,
        );
        let taken = Payment {
            refund_required: false,
            ..flagged.clone()
        };
        let by = UserId::new();
        let at = DateTime::UNIX_EPOCH + chrono::Duration::hours(1);
        let refunded = flagged.refunded(by, "cash back", at).unwrap();
        assert_eq!(
            (
                refunded.refunded_at,
                refunded.refunded_by,
                refunded.refund_reason.as_deref()
            ),
            (Some(at), Some(by), Some("cash back"))
        );
        assert_eq!(refunded.id(), flagged.id(), "the id stays");
        let cases = [
            (&taken, NotRefundable::NotFlagged),
            (&refunded, NotRefundable::AlreadyRefunded),
        ];
        for (payment, why) in cases {
            assert_eq!(payment.refunded(by, "again", at), Err(why));
        }
    }
}
