//! Outlets, admin users, booths and login tokens: the records that are not sessions. Applies
//! the scope rules of contract §3; secrets arrive already hashed (hashing is the transport's
//! auth layer's job), so nothing here ever sees a password or a token in clear.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::domain::access::{Action, Principal, permits};
use crate::domain::ids::{AuditId, BoothId, OutletId, UserId};
use crate::domain::records::{
    AuditEntry, AuditKind, AuditTarget, Booth, DEFAULT_TIMEZONE, Outlet, Role, User,
};
use crate::error::HubError;
use crate::store::{Change, Page, PageRequest, Store, StoreError};

/// What an audit entry of the directory says: the change, the thing changed, its outlet,
/// and the record before and after.
struct Audited {
    kind: AuditKind,
    target: Option<AuditTarget>,
    outlet_id: Option<OutletId>,
    from: serde_json::Value,
    to: serde_json::Value,
}

/// A user as the audit trail shows it: never its password hash.
fn user_summary(user: &User) -> serde_json::Value {
    serde_json::json!({
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "outlet_id": user.outlet_id,
        "active": user.active,
    })
}

fn booth_summary(booth: &Booth) -> serde_json::Value {
    serde_json::json!({ "name": booth.name, "outlet_id": booth.outlet_id, "active": booth.active })
}

#[derive(Debug)]
pub struct Directory {
    store: Arc<dyn Store>,
    clock: SharedClock,
    /// Changes of records (outlets, users, booths) read a record, change it and write it
    /// back whole, and some check others first (the last active super admin): they take
    /// turns, so none writes back a record another has changed meanwhile. They are rare
    /// (people editing), and one node writes a keyspace (`schema/README.md`).
    changes: tokio::sync::Mutex<()>,
}

/// The fields of an outlet as a client sends them.
#[derive(Clone, Debug, Default)]
pub struct OutletInput {
    pub name: String,
    pub location: String,
    pub timezone: Option<String>,
    /// `None` keeps the current price (none for a new outlet); `Some(None)` removes it.
    pub price: Option<Option<i64>>,
    /// `None` keeps the current flag (active for a new outlet).
    pub active: Option<bool>,
}

/// What `PUT /admin-users/{id}` may change; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub outlet_id: Option<OutletId>,
    pub active: Option<bool>,
}

/// What `PUT /booths/{id}` may change; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct BoothUpdate {
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// A change to who someone is: the record after it, and the login tokens (their hashes)
/// it ended, whose WebSockets the transport closes.
#[derive(Clone, Debug)]
pub struct Revoked<T> {
    pub record: T,
    pub ended_logins: Vec<String>,
    /// The user's role or outlet changed: its open WebSockets hold the old scope.
    pub scope_changed: bool,
}

/// A new admin user; `password_hash` is already an argon2id hash.
#[derive(Clone, Debug)]
pub struct UserInput {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub outlet_id: Option<OutletId>,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock) -> Self {
        Directory {
            store,
            clock,
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// The audit entry of a change made by `actor` (a user, or the e-mail address a failed
    /// login tried); the store keeps it with the change, in one write.
    async fn entry(&self, actor: (Option<UserId>, Option<String>), audited: Audited) -> AuditEntry {
        let (actor_id, actor_email) = actor;
        let actor_email = match (actor_email, actor_id) {
            (Some(email), _) => Some(email),
            (None, Some(user)) => self.store.user(user).await.ok().flatten().map(|u| u.email),
            (None, None) => None,
        };
        AuditEntry {
            id: AuditId::new(),
            kind: audited.kind,
            at: self.clock.now(),
            actor_id,
            actor_email,
            target: audited.target,
            outlet_id: audited.outlet_id,
            booking_id: None,
            from: audited.from,
            to: audited.to,
            reason: None,
        }
    }

    /// Keeps an entry that records no stored change of its own (a login, a logout, a second
    /// outlet's copy): a failure to keep it is logged, not answered.
    async fn audit(&self, actor: (Option<UserId>, Option<String>), audited: Audited) {
        let kind = audited.kind;
        let entry = self.entry(actor, audited).await;
        let change = Change {
            audit: Some(entry),
            ..Change::default()
        };
        if let Err(err) = self.store.commit(change).await {
            tracing::error!(error = %err, ?kind, "an audit entry was not kept");
        }
    }

    /// A login (or a failed one, by the e-mail address tried: no one is known to have tried,
    /// so it has no actor id; its target is the account of that address, if any).
    pub async fn audit_login(&self, user: Option<&User>, email: &str, succeeded: bool) {
        let kind = if succeeded {
            AuditKind::Login
        } else {
            AuditKind::LoginFailed
        };
        let target = user.map(|u| AuditTarget::User(u.id));
        let audited = Audited {
            kind,
            target,
            outlet_id: user.and_then(|u| u.outlet_id),
            from: serde_json::Value::Null,
            to: serde_json::json!({ "email": email }),
        };
        let actor_id = user.map(|u| u.id).filter(|_| succeeded);
        let actor = (actor_id, Some(email.to_lowercase()));
        self.audit(actor, audited).await;
    }

    /// A logout in the audit trail.
    pub async fn audit_logout(&self, by: &Principal) {
        let Some(user) = by.user_id() else {
            return;
        };
        let audited = Audited {
            kind: AuditKind::Logout,
            target: Some(AuditTarget::User(user)),
            outlet_id: match by {
                Principal::Admin { outlet_id, .. } => Some(*outlet_id),
                _ => None,
            },
            from: serde_json::Value::Null,
            to: serde_json::Value::Null,
        };
        self.audit((Some(user), None), audited).await;
    }

    pub async fn create_outlet(
        &self,
        by: &Principal,
        input: OutletInput,
    ) -> Result<Outlet, HubError> {
        permits(Some(by), Action::ManageOutlets)?;
        let timezone = input
            .timezone
            .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
        let price = input.price.flatten();
        Outlet::validate(&input.name, &input.location, &timezone, price)
            .map_err(HubError::Invalid)?;
        let outlet = Outlet {
            id: OutletId::new(),
            name: input.name,
            location: input.location,
            timezone,
            price,
            active: input.active.unwrap_or(true),
        };
        let audited = Audited {
            kind: AuditKind::OutletCreated,
            target: Some(AuditTarget::Outlet(outlet.id)),
            outlet_id: Some(outlet.id),
            from: serde_json::Value::Null,
            to: serde_json::json!(outlet),
        };
        let entry = self.entry((by.user_id(), None), audited).await;
        self.store.create_outlet(&outlet, Some(&entry)).await?;
        Ok(outlet)
    }

    pub async fn update_outlet(
        &self,
        by: &Principal,
        id: OutletId,
        input: OutletInput,
    ) -> Result<Outlet, HubError> {
        let _turn = self.changes.lock().await;
        permits(Some(by), Action::ManageOutlets)?;
        let current = self
            .store
            .outlet(id)
            .await?
            .ok_or(HubError::NotFound("outlet"))?;
        let timezone = input.timezone.unwrap_or_else(|| current.timezone.clone());
        let price = input.price.unwrap_or(current.price);
        Outlet::validate(&input.name, &input.location, &timezone, price)
            .map_err(HubError::Invalid)?;
        let outlet = Outlet {
            id,
            name: input.name,
            location: input.location,
            timezone,
            price,
            active: input.active.unwrap_or(current.active),
        };
        let audited = Audited {
            kind: AuditKind::OutletUpdated,
            target: Some(AuditTarget::Outlet(id)),
            outlet_id: Some(id),
            from: serde_json::json!(current),
            to: serde_json::json!(outlet),
        };
        let entry = self.entry((by.user_id(), None), audited).await;
        self.store
            .update_outlet(&outlet, Some(&entry))
            .await
            .map_err(|err| match err {
                StoreError::NotFound(what) => HubError::NotFound(what),
                other => other.into(),
            })?;
        Ok(outlet)
    }

    pub async fn list_outlets(
        &self,
        by: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Outlet>, HubError> {
        permits(Some(by), Action::ListOutlets)?;
        let only = by.outlet_filter(None).flatten();
        Ok(self.store.list_outlets(only, page).await?)
    }

    /// Creates an admin user. `by` is `None` only for the first super admin made at start-up
    /// or by `boothhub admin create`.
    pub async fn create_user(
        &self,
        by: Option<&Principal>,
        input: UserInput,
        password_hash: String,
    ) -> Result<User, HubError> {
        if let Some(by) = by {
            permits(Some(by), Action::ManageAdminUsers)?;
        }
        if let Some(outlet) = input.outlet_id {
            self.store.outlet(outlet).await?.ok_or_else(|| {
                HubError::Invalid(crate::domain::validate::FieldErrors::single(
                    "outlet_id",
                    "is not a known outlet",
                ))
            })?;
        }
        let outlet_id = match input.role {
            Role::Admin => input.outlet_id,
            Role::SuperAdmin => None,
        };
        let user = User {
            id: UserId::new(),
            name: input.name,
            email: input.email.to_lowercase(),
            role: input.role,
            outlet_id,
            password_hash,
            active: true,
        };
        // The first super admin, made at start-up or by the command line, is no one's change.
        let entry = match by {
            Some(by) => {
                let audited = Audited {
                    kind: AuditKind::UserCreated,
                    target: Some(AuditTarget::User(user.id)),
                    outlet_id: user.outlet_id,
                    from: serde_json::Value::Null,
                    to: user_summary(&user),
                };
                Some(self.entry((by.user_id(), None), audited).await)
            }
            None => None,
        };
        self.store
            .create_user(&user, entry.as_ref())
            .await
            .map_err(|err| match err {
                StoreError::EmailTaken => HubError::EmailTaken,
                other => other.into(),
            })?;
        Ok(user)
    }

    pub async fn list_users(
        &self,
        by: &Principal,
        page: &PageRequest,
    ) -> Result<Page<User>, HubError> {
        permits(Some(by), Action::ManageAdminUsers)?;
        Ok(self.store.list_users(page).await?)
    }

    /// Changes a user's name, role, outlet or active flag. Deactivation ends all its logins;
    /// the last active super admin can be neither deactivated nor demoted.
    pub async fn update_user(
        &self,
        by: &Principal,
        id: UserId,
        update: UserUpdate,
    ) -> Result<Revoked<User>, HubError> {
        let _turn = self.changes.lock().await;
        permits(Some(by), Action::ManageAdminUsers)?;
        let current = self
            .store
            .user(id)
            .await?
            .ok_or(HubError::NotFound("user"))?;
        let mut user = current.clone();
        let mut errors = crate::domain::validate::FieldErrors::default();
        if let Some(name) = update.name {
            if !crate::domain::validate::is_text(&name, 200) {
                errors.add("name", "must be 1 to 200 characters");
            }
            user.name = name;
        }
        if let Some(outlet) = update.outlet_id {
            if self.store.outlet(outlet).await?.is_none() {
                errors.add("outlet_id", "is not a known outlet");
            }
            user.outlet_id = Some(outlet);
        }
        user.role = update.role.unwrap_or(user.role);
        user.active = update.active.unwrap_or(user.active);
        match user.role {
            Role::SuperAdmin => user.outlet_id = None,
            Role::Admin if user.outlet_id.is_none() => {
                errors.add("outlet_id", "is required for role admin");
            }
            Role::Admin => {}
        }
        errors.into_result().map_err(HubError::Invalid)?;
        let was_super = current.active && current.role == Role::SuperAdmin;
        let stays_super = user.active && user.role == Role::SuperAdmin;
        if was_super && !stays_super && self.active_super_admins().await? <= 1 {
            return Err(HubError::LastSuperAdmin);
        }
        let audited = |outlet_id| Audited {
            kind: AuditKind::UserUpdated,
            target: Some(AuditTarget::User(id)),
            outlet_id,
            from: user_summary(&current),
            to: user_summary(&user),
        };
        let entry = self
            .entry((by.user_id(), None), audited(user.outlet_id))
            .await;
        self.store.update_user(&user, Some(&entry)).await?;
        // An admin moved between outlets is seen leaving by the old outlet's admins too.
        if current.outlet_id != user.outlet_id && current.outlet_id.is_some() {
            self.audit((by.user_id(), None), audited(current.outlet_id))
                .await;
        }
        let ended_logins = if current.active && !user.active {
            self.store.delete_logins_of(id, None).await?
        } else {
            vec![]
        };
        let scope_changed = (current.role, current.outlet_id) != (user.role, user.outlet_id);
        Ok(Revoked {
            record: user,
            ended_logins,
            scope_changed,
        })
    }

    /// Active super admins (users are few: the directory is read whole).
    async fn active_super_admins(&self) -> Result<usize, HubError> {
        let mut count = 0;
        let mut page = PageRequest {
            limit: 200,
            cursor: None,
        };
        loop {
            let users = self.store.list_users(&page).await?;
            count += users
                .items
                .iter()
                .filter(|u| u.active && u.role == Role::SuperAdmin)
                .count();
            match users.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(count),
            }
        }
    }

    /// Sets a user's password (`password_hash` already hashed) and ends every login of the
    /// user but `keep` (the token that made the change, when it is the user's own).
    pub async fn set_password(
        &self,
        by: &Principal,
        id: UserId,
        password_hash: String,
        keep: Option<&str>,
    ) -> Result<Revoked<User>, HubError> {
        let _turn = self.changes.lock().await;
        let own = by.user_id() == Some(id);
        let action = if own {
            Action::ChangeOwnPassword
        } else {
            Action::ManageAdminUsers
        };
        permits(Some(by), action)?;
        let mut user = self
            .store
            .user(id)
            .await?
            .ok_or(HubError::NotFound("user"))?;
        // The logins end first: should the password then fail to be written, the user signs in
        // again with the old one, and nobody keeps a login the change meant to end.
        let ended_logins = self
            .store
            .delete_logins_of(id, keep.filter(|_| own))
            .await?;
        user.password_hash = password_hash;
        let kind = if own {
            AuditKind::PasswordChanged
        } else {
            AuditKind::PasswordSet
        };
        let audited = Audited {
            kind,
            target: Some(AuditTarget::User(id)),
            outlet_id: user.outlet_id,
            from: serde_json::Value::Null,
            to: serde_json::json!({ "logins_ended": ended_logins.len() }),
        };
        let entry = self.entry((by.user_id(), None), audited).await;
        self.store.update_user(&user, Some(&entry)).await?;
        Ok(Revoked {
            record: user,
            ended_logins,
            scope_changed: false,
        })
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, HubError> {
        Ok(self.store.user(id).await?)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, HubError> {
        Ok(self.store.user_by_email(email).await?)
    }

    pub async fn has_super_admin(&self) -> Result<bool, HubError> {
        Ok(self.store.has_super_admin().await?)
    }

    pub async fn create_booth(
        &self,
        by: &Principal,
        outlet_id: OutletId,
        name: String,
        token_hash: &str,
    ) -> Result<Booth, HubError> {
        permits(Some(by), Action::ManageBooths)?;
        if !by.sees_outlet(outlet_id) {
            return Err(HubError::NotFound("outlet"));
        }
        self.store
            .outlet(outlet_id)
            .await?
            .ok_or(HubError::NotFound("outlet"))?;
        if !crate::domain::validate::is_text(&name, 200) {
            let msg = "must be 1 to 200 characters";
            return Err(HubError::Invalid(
                crate::domain::validate::FieldErrors::single("name", msg),
            ));
        }
        let booth = Booth {
            id: BoothId::new(),
            outlet_id,
            name,
            created_at: self.clock.now(),
            active: true,
            online: false,
            last_seen_at: None,
        };
        let audited = Audited {
            kind: AuditKind::BoothCreated,
            target: Some(AuditTarget::Booth(booth.id)),
            outlet_id: Some(outlet_id),
            from: serde_json::Value::Null,
            to: booth_summary(&booth),
        };
        let entry = self.entry((by.user_id(), None), audited).await;
        self.store
            .create_booth(&booth, token_hash, Some(&entry))
            .await?;
        Ok(booth)
    }

    /// A booth the caller may manage (404 outside its outlet).
    async fn managed_booth(&self, by: &Principal, id: BoothId) -> Result<Booth, HubError> {
        permits(Some(by), Action::ManageBooths)?;
        self.store
            .booth(id)
            .await?
            .filter(|booth| by.sees_outlet(booth.outlet_id))
            .ok_or(HubError::NotFound("booth"))
    }

    /// Renames, deactivates or reactivates a booth.
    pub async fn update_booth(
        &self,
        by: &Principal,
        id: BoothId,
        update: BoothUpdate,
    ) -> Result<Booth, HubError> {
        let _turn = self.changes.lock().await;
        let mut booth = self.managed_booth(by, id).await?;
        let before = booth_summary(&booth);
        if let Some(name) = update.name {
            if !crate::domain::validate::is_text(&name, 200) {
                let msg = "must be 1 to 200 characters";
                return Err(HubError::Invalid(
                    crate::domain::validate::FieldErrors::single("name", msg),
                ));
            }
            booth.name = name;
        }
        booth.active = update.active.unwrap_or(booth.active);
        let audited = Audited {
            kind: AuditKind::BoothUpdated,
            target: Some(AuditTarget::Booth(id)),
            outlet_id: Some(booth.outlet_id),
            from: before,
            to: booth_summary(&booth),
        };
        let entry = self.entry((by.user_id(), None), audited).await;
        self.store.update_booth(&booth, Some(&entry)).await?;
        Ok(booth)
    }

    /// Gives a booth a new token (`token_hash`); the old one stops working at once.
    pub async fn rotate_booth_token(
        &self,
        by: &Principal,
        id: BoothId,
        token_hash: &str,
    ) -> Result<Booth, HubError> {
        let _turn = self.changes.lock().await;
        let booth = self.managed_booth(by, id).await?;
        let audited = Audited {
            kind: AuditKind::BoothTokenRotated,
            target: Some(AuditTarget::Booth(id)),
            outlet_id: Some(booth.outlet_id),
            from: serde_json::Value::Null,
            to: serde_json::Value::Null,
        };
        let entry = self.entry((by.user_id(), None), audited).await;
        self.store
            .set_booth_token(id, token_hash, Some(&entry))
            .await?;
        Ok(booth)
    }

    pub async fn list_booths(
        &self,
        by: &Principal,
        outlet: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Booth>, HubError> {
        permits(Some(by), Action::ListBooths)?;
        let Some(outlet) = by.outlet_filter(outlet) else {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        };
        Ok(self.store.list_booths(outlet, page).await?)
    }

    pub async fn remember_login(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), HubError> {
        Ok(self.store.put_login(token_hash, user, expires_at).await?)
    }

    pub async fn forget_login(&self, token_hash: &str) -> Result<(), HubError> {
        Ok(self.store.delete_login(token_hash).await?)
    }

    /// The caller behind a login token that has not expired, and when it expires. A
    /// deactivated user has no principal.
    pub async fn principal_for_login(
        &self,
        token_hash: &str,
    ) -> Result<Option<(Principal, DateTime<Utc>)>, HubError> {
        let Some((user_id, expires)) = self.store.login(token_hash, self.clock.now()).await? else {
            return Ok(None);
        };
        let user = self.store.user(user_id).await?;
        Ok(user
            .filter(|user| user.active)
            .and_then(|user| principal_of(&user))
            .map(|principal| (principal, expires)))
    }

    /// The caller behind a booth token.
    pub async fn principal_for_booth(
        &self,
        token_hash: &str,
    ) -> Result<Option<Principal>, HubError> {
        let booth = self.store.booth_by_token(token_hash).await?;
        Ok(booth.filter(|b| b.active).map(|b| Principal::Booth {
            booth_id: b.id,
            outlet_id: b.outlet_id,
        }))
    }
}

/// The principal a user acts as.
pub fn principal_of(user: &User) -> Option<Principal> {
    match (user.role, user.outlet_id) {
        (Role::SuperAdmin, _) => Some(Principal::SuperAdmin { user_id: user.id }),
        (Role::Admin, Some(outlet_id)) => Some(Principal::Admin {
            user_id: user.id,
            outlet_id,
        }),
        (Role::Admin, None) => None,
    }
}
