//! Newtype ids, so that a booth id is never passed where a booking id is expected.
//! Every id is a UUID v7: unique without coordination and ordered by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A booking, which is also its session.
    BookingId
);
id_type!(
    /// An outlet (a mall, an event venue).
    OutletId
);
id_type!(
    /// A booth device.
    BoothId
);
id_type!(
    /// An admin or super admin user.
    UserId
);
id_type!(
    /// An entry of the audit trail.
    AuditId
);
id_type!(
    /// A hub process of a cluster (contract §8): new at each start.
    NodeId
);
id_type!(
    /// A stored payment notification: named by its provider event id (see
    /// [`PaymentId::of_event`]), so every record has one, those stored before it existed too.
    PaymentId
);

impl PaymentId {
    /// The payment's id, made from its event id: the same event id gives the same id on every
    /// node and store, forever. Written as a UUID v4 (contract §2 allows v4 and v7) whose
    /// 122 free bits are the first of a SHA-256 instead of random ones.
    pub fn of_event(event_id: &str) -> PaymentId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("boothhub-payment\0{event_id}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        PaymentId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_id_is_stable_and_distinct_per_event_id() {
        let a = PaymentId::of_event("evt_1");
        assert_eq!(a, PaymentId::of_event("evt_1"));
        assert_ne!(a, PaymentId::of_event("evt_2"));
        assert_eq!(a.0.get_version_num(), 4);
        // Pinned (computed apart, with Python's hashlib and uuid): an id once shown to an
        // operator must never change.
        assert_eq!(a.to_string(), "3c10f7c9-e12c-48a9-92ba-d50c913be9c0");
    }
}
