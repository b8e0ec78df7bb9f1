//! The directory's records: outlets, admin users, booths, and the audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AuditId, BookingId, BoothId, NodeId, OutletId, UserId};
use super::validate::{FieldErrors, is_text};

pub const DEFAULT_TIMEZONE: &str = "Asia/Jakarta";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outlet {
    pub id: OutletId,
    pub name: String,
    pub location: String,
    pub timezone: String,
    /// The price of a session in rupiah: every booking costs it. None: the booking says.
    #[serde(default)]
    pub price: Option<i64>,
    /// An inactive outlet takes no bookings (records made before outlets had it are active).
    #[serde(default = "active")]
    pub active: bool,
}

/// The highest price an outlet may ask (100 million rupiah): a typo's guard.
pub const MAX_PRICE: i64 = 100_000_000;

impl Outlet {
    pub fn validate(
        name: &str,
        location: &str,
        timezone: &str,
        price: Option<i64>,
    ) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if price.is_some_and(|p| !(1..=MAX_PRICE).contains(&p)) {
            errors.add(
                "price",
                "must be a whole number of rupiah from 1 to 100000000, or null",
            );
        }
        if !is_text(name, 200) {
            errors.add("name", "must be 1 to 200 characters");
        }
        if location.chars().count() > 500 {
            errors.add("location", "must be at most 500 characters");
        }
        if !is_iana_timezone(timezone) {
            errors.add(
                "timezone",
                "must be an IANA time zone name such as Asia/Jakarta",
            );
        }
        errors.into_result()
    }
}

/// A light check of an IANA zone name (`Area/City`, `UTC`): the UI formats with it.
pub fn is_iana_timezone(tz: &str) -> bool {
    if tz == "UTC" {
        return true;
    }
    let mut parts = tz.split('/');
    let area_ok = parts.next().is_some_and(|area| {
        matches!(
            area,
            "Africa"
                | "America"
                | "Antarctica"
                | "Asia"
                | "Atlantic"
                | "Australia"
                | "Europe"
                | "Indian"
                | "Pacific"
                | "Etc"
        )
    });
    let rest: Vec<&str> = parts.collect();
    area_ok
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "super_admin" => Some(Role::SuperAdmin),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An admin or super admin; the password hash never leaves the hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub outlet_id: Option<OutletId>,
    pub password_hash: String,
    /// A deactivated user cannot log in and its tokens stop working (records made before
    /// users could be deactivated read as active).
    #[serde(default = "active")]
    pub active: bool,
}

fn active() -> bool {
    true
}

impl User {
    /// Passwords are 10 to 200 characters (contract §4), whoever sets them: an admin, the
    /// command line or the start-up super admin.
    pub fn is_valid_password(password: &str) -> bool {
        (10..=200).contains(&password.chars().count())
    }

    pub fn validate(
        name: &str,
        email: &str,
        password: &str,
        role: Role,
        outlet: Option<OutletId>,
    ) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if !is_text(name, 200) {
            errors.add("name", "must be 1 to 200 characters");
        }
        if !super::validate::is_email(email) {
            errors.add("email", "must be a valid e-mail address");
        }
        if !User::is_valid_password(password) {
            errors.add("password", "must be 10 to 200 characters");
        }
        if role == Role::Admin && outlet.is_none() {
            errors.add("outlet_id", "is required for role admin");
        }
        errors.into_result()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booth {
    pub id: BoothId,
    pub outlet_id: OutletId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// A deactivated booth's token is refused and it gets no bookings.
    #[serde(default = "active")]
    pub active: bool,
    /// Whether a connection of the booth was open when last recorded.
    #[serde(default)]
    pub online: bool,
    /// When the booth was last heard from (its last connection closing, or opening).
    #[serde(default)]
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// A live hub node of a cluster, as its heartbeat last recorded it (contract §8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    /// Where its peers reach it (`BOOTHHUB_CLUSTER_ADVERTISE`, else `_LISTEN`).
    pub address: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Its clients' open WebSockets.
    pub connections: u64,
    /// The bookings whose session actors it holds.
    pub sessions: u64,
}

/// A booth event that was sent six times and never acked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: super::ids::AuditId,
    pub booth_id: BoothId,
    pub outlet_id: OutletId,
    pub stream: super::event::Stream,
    pub seq: u64,
    pub event: super::event::Event,
    pub deliveries: u32,
    pub at: DateTime<Utc>,
}

/// What the audit trail records: every change made by a person (contract v1.2 §4). Written as
/// the entry's `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditKind {
    SessionOverride,
    ConfigUpdated,
    PaymentRefunded,
    Login,
    /// A login refused (wrong password, unknown or deactivated account), by the e-mail tried.
    LoginFailed,
    Logout,
    /// A user changed its own password.
    PasswordChanged,
    /// A super admin set a user's password.
    PasswordSet,
    OutletCreated,
    OutletUpdated,
    UserCreated,
    UserUpdated,
    BoothCreated,
    BoothUpdated,
    BoothTokenRotated,
}

impl AuditKind {
    pub const ALL: [AuditKind; 15] = [
        AuditKind::SessionOverride,
        AuditKind::ConfigUpdated,
        AuditKind::PaymentRefunded,
        AuditKind::Login,
        AuditKind::LoginFailed,
        AuditKind::Logout,
        AuditKind::PasswordChanged,
        AuditKind::PasswordSet,
        AuditKind::OutletCreated,
        AuditKind::OutletUpdated,
        AuditKind::UserCreated,
        AuditKind::UserUpdated,
        AuditKind::BoothCreated,
        AuditKind::BoothUpdated,
        AuditKind::BoothTokenRotated,
    ];

    /// The action as written (`SESSION_OVERRIDE`, `LOGIN_FAILED`, …).
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn parse(action: &str) -> Option<AuditKind> {
        AuditKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == action)
    }
}

/// What an audit entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum AuditTarget {
    Booking(BookingId),
    Outlet(OutletId),
    User(UserId),
    Booth(BoothId),
    Payment(super::ids::PaymentId),
    Config,
}

/// One entry of the audit trail: who, when, from, to, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: AuditId,
    pub kind: AuditKind,
    pub at: DateTime<Utc>,
    /// Who did it; none for a failed login of an unknown e-mail address.
    pub actor_id: Option<UserId>,
    /// The actor's e-mail address when it was done (the address tried, for a failed login).
    #[serde(default)]
    pub actor_email: Option<String>,
    /// What it was done to (entries written before targets were kept: their booking, if any).
    #[serde(default)]
    pub target: Option<AuditTarget>,
    pub outlet_id: Option<OutletId>,
    pub booking_id: Option<BookingId>,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezones() {
        for ok in [
            "Asia/Jakarta",
            "Asia/Makassar",
            "Asia/Jayapura",
            "UTC",
            "America/Argentina/Salta",
            "Etc/GMT+7",
        ] {
            assert!(is_iana_timezone(ok), "{ok}");
        }
        for bad in [
            "",
            "Jakarta",
            "Asia/",
            "Mars/Olympus",
            "Asia/Ja karta",
            "../etc/passwd",
        ] {
            assert!(!is_iana_timezone(bad), "{bad}");
        }
    }

    #[test]
    fn an_admin_needs_an_outlet() {
        let err = User::validate("Ana", "ana@x.id", "long enough", Role::Admin, None);
        assert_eq!(
            err,
            Err(FieldErrors::single(
                "outlet_id",
                "is required for role admin"
            ))
        );
        assert!(User::validate("Ana", "ana@x.id", "long enough", Role::SuperAdmin, None).is_ok());
    }
}
