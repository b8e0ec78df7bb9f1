//! Who may do what: the roles and scopes of contract §3, for HTTP and streams alike.

use super::event::Stream;
use super::ids::{BoothId, OutletId, UserId};

/// An authenticated caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    SuperAdmin {
        user_id: UserId,
    },
    Admin {
        user_id: UserId,
        outlet_id: OutletId,
    },
    Booth {
        booth_id: BoothId,
        outlet_id: OutletId,
    },
}

/// Everything a caller can ask for, one per row of the table in contract §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Logout,
    CreateBooking,
    /// Arrival, start, finish.
    DriveSession,
    OverrideSession,
    ReadSession,
    ListBookings,
    ListOutlets,
    ManageOutlets,
    ManageAdminUsers,
    ListBooths,
    /// Create, rename, deactivate a booth, rotate its token.
    ManageBooths,
    /// Change one's own password.
    ChangeOwnPassword,
    /// Mark a flagged payment refunded.
    RefundPayment,
    SystemConfig,
    ReadAudit,
    Subscribe,
    /// See the nodes of the cluster (`GET /cluster`, contract §8).
    ViewCluster,
}

/// Why an action is not allowed: 401 without credentials, 403 with the wrong role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Unauthenticated,
    Forbidden,
}

/// What the caller sees of outlets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Everything,
    Outlet(OutletId),
}

/// What a session request may do with a booking, given who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAccess {
    Allowed,
    /// Outside the caller's scope: answered 404 so that existence does not leak.
    Hidden,
    /// A booth of another outlet, or not the booking's booth: 403 `WRONG_BOOTH`.
    WrongBooth,
}

/// Whether `caller` may perform `action` at all (the role columns of contract §3).
/// Anonymous callers may only create bookings; scopes are checked separately.
pub fn permits(caller: Option<&Principal>, action: Action) -> Result<(), Denied> {
    use Action::*;
    let Some(caller) = caller else {
        return match action {
            CreateBooking => Ok(()),
            _ => Err(Denied::Unauthenticated),
        };
    };
    let allowed = match caller {
        Principal::SuperAdmin { .. } => true,
        Principal::Admin { .. } => !matches!(
            action,
            ManageOutlets | ManageAdminUsers | SystemConfig | ViewCluster
        ),
        Principal::Booth { .. } => matches!(action, DriveSession | ReadSession | Subscribe),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

impl Principal {
    pub fn scope(&self) -> Scope {
        match self {
            Principal::SuperAdmin { .. } => Scope::Everything,
            Principal::Admin { outlet_id, .. } | Principal::Booth { outlet_id, .. } => {
                Scope::Outlet(*outlet_id)
            }
        }
    }

    pub fn sees_outlet(&self, outlet: OutletId) -> bool {
        match self.scope() {
            Scope::Everything => true,
            Scope::Outlet(own) => own == outlet,
        }
    }

    /// The outlet filter a listing runs with: a scoped caller's own outlet, whatever it
    /// asked for; `None` when it asked for an outlet it may not see (an empty listing).
    pub fn outlet_filter(&self, requested: Option<OutletId>) -> Option<Option<OutletId>> {
        match self.scope() {
            Scope::Everything => Some(requested),
            Scope::Outlet(own) if requested.is_none_or(|r| r == own) => Some(Some(own)),
            Scope::Outlet(_) => None,
        }
    }

    /// The user behind an admin or super admin; booths have none.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::SuperAdmin { user_id } | Principal::Admin { user_id, .. } => Some(*user_id),
            Principal::Booth { .. } => None,
        }
    }

    pub fn booth_id(&self) -> Option<BoothId> {
        match self {
            Principal::Booth { booth_id, .. } => Some(*booth_id),
            _ => None,
        }
    }

    /// Whether a booking of `outlet` (assigned to `booth`, if any) may be driven or read.
    pub fn session_access(&self, outlet: OutletId, booth: Option<BoothId>) -> SessionAccess {
        match self {
            Principal::SuperAdmin { .. } => SessionAccess::Allowed,
            Principal::Admin { outlet_id, .. } if *outlet_id == outlet => SessionAccess::Allowed,
            Principal::Admin { .. } => SessionAccess::Hidden,
            Principal::Booth {
                booth_id,
                outlet_id,
            } => {
                let own_outlet = *outlet_id == outlet;
                let own_booth = booth.is_none_or(|b| b == *booth_id);
                if own_outlet && own_booth {
                    SessionAccess::Allowed
                } else {
                    SessionAccess::WrongBooth
                }
            }
        }
    }

    /// Whether the caller may read `stream`: booths their own, admins their outlet's
    /// streams and those of its booths (checked by the caller with the booth's outlet),
    /// super admins everything.
    pub fn may_subscribe(&self, stream: Stream, booth_outlet: Option<OutletId>) -> bool {
        match (self, stream) {
            (Principal::SuperAdmin { .. }, _) => true,
            (Principal::Booth { booth_id, .. }, Stream::Booth(id)) => *booth_id == id,
            (Principal::Booth { .. }, _) => false,
            (Principal::Admin { outlet_id, .. }, Stream::Outlet(id)) => *outlet_id == id,
            (Principal::Admin { outlet_id, .. }, Stream::Booth(_)) => {
                booth_outlet == Some(*outlet_id)
            }
            (Principal::Admin { .. }, Stream::All) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::*;

    const ACTIONS: [Action; 17] = [
        Logout,
        CreateBooking,
        DriveSession,
        OverrideSession,
        ReadSession,
        ListBookings,
        ListOutlets,
        ManageOutlets,
        ManageAdminUsers,
        ListBooths,
        ManageBooths,
        ChangeOwnPassword,
        RefundPayment,
        SystemConfig,
        ReadAudit,
        Subscribe,
        ViewCluster,
    ];

    /// Columns: anonymous, booth, admin, super admin (true = allowed).
    fn expected(action: Action) -> [bool; 4] {
        match action {
            Logout => [false, false, true, true],
            CreateBooking => [true, false, true, true],
            DriveSession => [false, true, true, true],
            OverrideSession => [false, false, true, true],
            ReadSession => [false, true, true, true],
            ListBookings => [false, false, true, true],
            ListOutlets => [false, false, true, true],
            ManageOutlets => [false, false, false, true],
            ManageAdminUsers => [false, false, false, true],
            ListBooths => [false, false, true, true],
            ManageBooths => [false, false, true, true],
            ChangeOwnPassword => [false, false, true, true],
            RefundPayment => [false, false, true, true],
            SystemConfig => [false, false, false, true],
            ReadAudit => [false, false, true, true],
            Subscribe => [false, true, true, true],
            ViewCluster => [false, false, false, true],
        }
    }

    #[test]
    fn the_role_table_of_contract_section_3() {
        let outlet = OutletId::new();
        let booth = Principal::Booth {
            booth_id: BoothId::new(),
            outlet_id: outlet,
        };
        let admin = Principal::Admin {
            user_id: UserId::new(),
            outlet_id: outlet,
        };
        let sup = Principal::SuperAdmin {
            user_id: UserId::new(),
        };
        for action in ACTIONS {
            let want = expected(action);
            let callers = [None, Some(&booth), Some(&admin), Some(&sup)];
            for (caller, allowed) in callers.into_iter().zip(want) {
                let got = permits(caller, action);
                let want = match (allowed, caller) {
                    (true, _) => Ok(()),
                    (false, None) => Err(Denied::Unauthenticated),
                    (false, Some(_)) => Err(Denied::Forbidden),
                };
                assert_eq!(got, want, "{action:?} by {caller:?}");
            }
        }
    }

    #[test]
    fn session_scopes() {
        let a = OutletId::new();
        let b = OutletId::new();
        let booth_a1 = BoothId::new();
        let booth_a2 = BoothId::new();
        let me = Principal::Booth {
            booth_id: booth_a1,
            outlet_id: a,
        };
        assert_eq!(me.session_access(a, None), SessionAccess::Allowed);
        assert_eq!(me.session_access(a, Some(booth_a1)), SessionAccess::Allowed);
        assert_eq!(
            me.session_access(a, Some(booth_a2)),
            SessionAccess::WrongBooth
        );
        assert_eq!(me.session_access(b, None), SessionAccess::WrongBooth);
        let admin_a = Principal::Admin {
            user_id: UserId::new(),
            outlet_id: a,
        };
        assert_eq!(
            admin_a.session_access(a, Some(booth_a2)),
            SessionAccess::Allowed
        );
        assert_eq!(admin_a.session_access(b, None), SessionAccess::Hidden);
        let sup = Principal::SuperAdmin {
            user_id: UserId::new(),
        };
        assert_eq!(sup.session_access(b, None), SessionAccess::Allowed);
    }

    #[test]
    fn listing_filters() {
        let (a, b) = (OutletId::new(), OutletId::new());
        let admin = Principal::Admin {
            user_id: UserId::new(),
            outlet_id: a,
        };
        assert_eq!(admin.outlet_filter(None), Some(Some(a)));
        assert_eq!(admin.outlet_filter(Some(a)), Some(Some(a)));
        assert_eq!(admin.outlet_filter(Some(b)), None);
        let sup = Principal::SuperAdmin {
            user_id: UserId::new(),
        };
        assert_eq!(sup.outlet_filter(None), Some(None));
        assert_eq!(sup.outlet_filter(Some(b)), Some(Some(b)));
    }

    #[test]
    fn stream_scopes() {
        let a = OutletId::new();
        let b = OutletId::new();
        let own = BoothId::new();
        let booth = Principal::Booth {
            booth_id: own,
            outlet_id: a,
        };
        assert!(booth.may_subscribe(Stream::Booth(own), Some(a)));
        assert!(!booth.may_subscribe(Stream::Booth(BoothId::new()), Some(a)));
        assert!(!booth.may_subscribe(Stream::Outlet(a), None));
        let admin = Principal::Admin {
            user_id: UserId::new(),
            outlet_id: a,
        };
        assert!(admin.may_subscribe(Stream::Outlet(a), None));
        assert!(!admin.may_subscribe(Stream::Outlet(b), None));
        assert!(admin.may_subscribe(Stream::Booth(own), Some(a)));
        assert!(!admin.may_subscribe(Stream::Booth(own), Some(b)));
        assert!(!admin.may_subscribe(Stream::All, None));
        let sup = Principal::SuperAdmin {
            user_id: UserId::new(),
        };
        assert!(sup.may_subscribe(Stream::All, None));
    }
}
