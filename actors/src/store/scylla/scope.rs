//! The partitions a listing reads: every timeline entry and live booking is written under each
//! scope it can be listed by, so a listing is one partition read, never a scan.

use std::fmt;

use crate::domain::ids::{BookingId, BoothId, OutletId};

/// What a listing is narrowed to. Written as `all`, `outlet:<id>`, `booth:<id>` or
/// `booking:<id>` (the names of the streams, so rows written before this type read the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Outlet(OutletId),
    Booth(BoothId),
    Booking(BookingId),
}

impl Scope {
    /// The narrowest scope for a listing: the specific one (booth, booking) if asked for,
    /// else the outlet's, else `all`. The outlet is then checked on each entry.
    pub fn narrowest(specific: Option<Scope>, outlet: Option<OutletId>) -> Scope {
        specific.unwrap_or_else(|| outlet.map_or(Scope::All, Scope::Outlet))
    }

    /// `all` and the outlet's scope: where anything of one outlet is listed.
    pub fn of_outlet(outlet: OutletId) -> [Scope; 2] {
        [Scope::All, Scope::Outlet(outlet)]
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Outlet(id) => write!(f, "outlet:{id}"),
            Scope::Booth(id) => write!(f, "booth:{id}"),
            Scope::Booking(id) => write!(f, "booking:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Stream;

    #[test]
    fn scopes_are_written_as_the_streams_of_the_same_thing() {
        let (outlet, booth) = (OutletId::new(), BoothId::new());
        assert_eq!(Scope::All.to_string(), Stream::All.to_string());
        assert_eq!(
            Scope::Outlet(outlet).to_string(),
            Stream::Outlet(outlet).to_string()
        );
        assert_eq!(
            Scope::Booth(booth).to_string(),
            Stream::Booth(booth).to_string()
        );
        let booking = BookingId::new();
        assert_eq!(
            Scope::Booking(booking).to_string(),
            format!("booking:{booking}")
        );
    }

    #[test]
    fn a_listing_reads_the_narrowest_scope() {
        let (outlet, booth) = (OutletId::new(), BoothId::new());
        let cases = [
            (None, None, Scope::All),
            (None, Some(outlet), Scope::Outlet(outlet)),
            (Some(Scope::Booth(booth)), Some(outlet), Scope::Booth(booth)),
            (Some(Scope::Booth(booth)), None, Scope::Booth(booth)),
        ];
        for (specific, outlet, expected) in cases {
            assert_eq!(Scope::narrowest(specific, outlet), expected);
        }
    }
}
