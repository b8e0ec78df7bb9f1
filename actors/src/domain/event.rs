//! Event kinds and stream names of contract §7. Every state change produces one [`Event`],
//! published on each of its [`Stream`]s with a per-stream `seq`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{BookingId, BoothId, OutletId};
pub use super::kind::EventKind;
use super::status::Status;

/// A stream a client subscribes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    Booth(BoothId),
    Outlet(OutletId),
    All,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Booth(id) => write!(f, "booth:{id}"),
            Stream::Outlet(id) => write!(f, "outlet:{id}"),
            Stream::All => f.write_str("all"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown stream {0:?}: use booth:<id>, outlet:<id> or all")]
pub struct BadStream(pub String);

/// A stream is written as its name (`booth:<id>`, `outlet:<id>`, `all`).
impl Serialize for Stream {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Stream {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Stream {
    type Err = BadStream;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadStream(s.to_owned());
        match s.split_once(':') {
            None if s == "all" => Ok(Stream::All),
            Some(("booth", id)) => id.parse().map(Stream::Booth).map_err(|_| bad()),
            Some(("outlet", id)) => id.parse().map(Stream::Outlet).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// What happened, before it is given a place in its streams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event: EventKind,
    pub booking_id: Option<BookingId>,
    pub booth_id: Option<BoothId>,
    pub outlet_id: Option<OutletId>,
    pub status: Option<Status>,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Event {
    /// The streams this event goes to: its booth's, its outlet's, and `all`. A config change
    /// is one event per outlet stream plus one on `all`, so each outlet copy skips `all`.
    /// Presence and delivery failures are about a booth, for its outlet: they skip the booth's
    /// own stream (whose events the booth must ack).
    pub fn streams(&self) -> Vec<Stream> {
        if let (EventKind::ConfigUpdated, Some(outlet)) = (self.event, self.outlet_id) {
            return vec![Stream::Outlet(outlet)];
        }
        let for_the_booth = !matches!(
            self.event,
            EventKind::BoothOnline | EventKind::BoothOffline | EventKind::DeliveryFailed
        );
        let mut streams = Vec::with_capacity(3);
        if let Some(booth) = self.booth_id.filter(|_| for_the_booth) {
            streams.push(Stream::Booth(booth));
        }
        if let Some(outlet) = self.outlet_id {
            streams.push(Stream::Outlet(outlet));
        }
        streams.push(Stream::All);
        streams
    }
}

/// An event at its place in one stream: `seq` grows by exactly one per stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub stream: Stream,
    pub seq: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_round_trip() {
        let booth = BoothId::new();
        let outlet = OutletId::new();
        for stream in [Stream::Booth(booth), Stream::Outlet(outlet), Stream::All] {
            assert_eq!(stream.to_string().parse::<Stream>(), Ok(stream));
        }
        assert_eq!(
            format!("booth:{booth}").parse::<Stream>(),
            Ok(Stream::Booth(booth))
        );
    }

    #[test]
    fn bad_stream_names_are_refused() {
        for bad in [
            "",
            "booth:",
            "booth:xyz",
            "outlets:1",
            "ALL",
            "all:1",
            "outlet",
        ] {
            assert!(bad.parse::<Stream>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn an_event_goes_to_its_booth_outlet_and_all() {
        let booth = BoothId::new();
        let outlet = OutletId::new();
        let event = Event {
            event: EventKind::SessionApproved,
            booking_id: None,
            booth_id: Some(booth),
            outlet_id: Some(outlet),
            status: None,
            at: DateTime::UNIX_EPOCH,
            data: serde_json::Value::Null,
        };
        assert_eq!(
            event.streams(),
            vec![Stream::Booth(booth), Stream::Outlet(outlet), Stream::All]
        );
        let unassigned = Event {
            booth_id: None,
            ..event
        };
        assert_eq!(
            unassigned.streams(),
            vec![Stream::Outlet(outlet), Stream::All]
        );
    }
}
