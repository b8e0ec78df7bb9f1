//! The hub's error: what a request to the hub, an actor or the directory can end in. Sits
//! below the actors and the façade, so every layer above the store can name it; the
//! transports map it once to their answers.

use crate::domain::access::Denied;
use crate::domain::status::{Refusal, Status};
use crate::domain::validate::FieldErrors;
use crate::store::StoreError;

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
    #[error("{} while the booking is {}", refusal.code(), status.as_str())]
    Refused { refusal: Refusal, status: Status },
    #[error("invalid values")]
    Invalid(FieldErrors),
    #[error("the booking time has passed")]
    BookingTimePassed,
    #[error("the booking time is too far ahead")]
    BookingTooFar,
    #[error("the slot is taken")]
    SlotTaken,
    #[error("the outlet takes no bookings")]
    OutletInactive,
    #[error("the payment cannot be marked refunded: {0:?}")]
    NotRefundable(crate::domain::payment::NotRefundable),
    #[error("the amount is not the outlet's price ({price})")]
    NotThePrice { price: i64 },
    #[error("the e-mail address is taken")]
    EmailTaken,
    #[error("the last active super admin must stay an active super admin")]
    LastSuperAdmin,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the event id was used with another body")]
    EventIdReused,
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the hub is busy: {0}")]
    Unavailable(String),
    /// Another node of the cluster acts for the booking (contract §8): the transport hands
    /// the request to it, at its cluster address.
    #[error("the node at {address} acts for this booking")]
    Elsewhere { address: String },
}

impl From<Denied> for HubError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Unauthenticated => HubError::Unauthenticated,
            Denied::Forbidden => HubError::Forbidden,
        }
    }
}
