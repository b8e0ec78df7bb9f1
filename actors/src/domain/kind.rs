//! The kinds of event of contract §7 (a leaf: the status machine names them, events carry
//! them).

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    BookingCreated,
    PaymentConfirmed,
    SessionApproved,
    SessionRejected,
    SessionExpired,
    SessionStarted,
    SessionDone,
    SessionOverride,
    BoothOnline,
    BoothOffline,
    ConfigUpdated,
    DeliveryFailed,
}
