//! The payment webhook's rules (contract §6) once the signature is verified: what a
//! notification does, and the outcome that is stored so that a replay answers the same.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::booking::Booking;
use super::ids::{BookingId, OutletId};
use super::status::{Refusal, Status, Trigger, decide};

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
    AmountMismatch {
        expected: i64,
        received: i64,
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
    /// Whether an admin must refund this payment.
    pub fn needs_refund(&self) -> bool {
        matches!(
            self,
            PaymentOutcome::BookingExpired | PaymentOutcome::InvalidTransition { .. }
        )
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
            refund_required: outcome.needs_refund(),
            outcome,
            received_at: now,
        }
    }
}

/// What a notification does to `booking`: the outcome, and whether it confirms the payment.
pub fn judge(notice: &PaymentNotice, booking: &Booking) -> (PaymentOutcome, bool) {
    if notice.status == PaymentStatus::Failed {
        return (
            PaymentOutcome::Failed {
                booking_status: booking.status,
            },
            false,
        );
    }
    if notice.amount != booking.amount {
        let mismatch = PaymentOutcome::AmountMismatch {
            expected: booking.amount,
            received: notice.amount,
        };
        return (mismatch, false);
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
            amount: 35_000,
            paid: false,
        };
        let (mut b, _) = new.into_booking(
            BookingId::new(),
            "qr".into(),
            DateTime::UNIX_EPOCH,
            &SystemConfig::default(),
        );
        b.status = status;
        b
    }

    fn notice(status: PaymentStatus, amount: i64) -> PaymentNotice {
        PaymentNotice {
            event_id: "evt_1".into(),
            booking_id: BookingId::new(),
            status,
            amount,
            currency: "IDR".into(),
            paid_at: None,
            raw: "{}".into(),
            body_hash: "h".into(),
        }
    }

    #[test]
    fn outcomes() {
        use PaymentStatus::*;
        use Status::*;
        let cases = [
            (
                PendingPayment,
                Success,
                35_000,
                PaymentOutcome::Confirmed {
                    booking_status: AwaitingCustomer,
                },
                true,
            ),
            (
                PendingPayment,
                Success,
                1,
                PaymentOutcome::AmountMismatch {
                    expected: 35_000,
                    received: 1,
                },
                false,
            ),
            (
                PendingPayment,
                Failed,
                35_000,
                PaymentOutcome::Failed {
                    booking_status: PendingPayment,
                },
                false,
            ),
            (
                Expired,
                Success,
                35_000,
                PaymentOutcome::BookingExpired,
                false,
            ),
            (
                AwaitingCustomer,
                Success,
                35_000,
                PaymentOutcome::InvalidTransition {
                    booking_status: AwaitingCustomer,
                },
                false,
            ),
        ];
        for (status, paid, amount, want, confirms) in cases {
            let got = judge(&notice(paid, amount), &booking(status));
            assert_eq!(got, (want, confirms), "{status:?} {paid:?} {amount}");
        }
        assert!(PaymentOutcome::BookingExpired.needs_refund());
        assert!(!PaymentOutcome::UnknownBooking.needs_refund());
    }
}
