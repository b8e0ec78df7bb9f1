//! Outlets, admin users, booths and login tokens: the records that are not sessions. Applies
//! the scope rules of contract §3; secrets arrive already hashed (hashing is the transport's
//! auth layer's job), so nothing here ever sees a password or a token in clear.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::domain::access::{Action, Principal, permits};
use crate::domain::ids::{BoothId, OutletId, UserId};
use crate::domain::records::{Booth, DEFAULT_TIMEZONE, Outlet, Role, User};
use crate::error::HubError;
use crate::store::{Page, PageRequest, Store, StoreError};

#[derive(Debug)]
pub struct Directory {
    store: Arc<dyn Store>,
    clock: SharedClock,
}

/// The fields of an outlet as a client sends them.
#[derive(Clone, Debug, Default)]
pub struct OutletInput {
    pub name: String,
    pub location: String,
    pub timezone: Option<String>,
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
        Directory { store, clock }
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
        Outlet::validate(&input.name, &input.location, &timezone).map_err(HubError::Invalid)?;
        let outlet = Outlet {
            id: OutletId::new(),
            name: input.name,
            location: input.location,
            timezone,
        };
        self.store.create_outlet(&outlet).await?;
        Ok(outlet)
    }

    pub async fn update_outlet(
        &self,
        by: &Principal,
        id: OutletId,
        input: OutletInput,
    ) -> Result<Outlet, HubError> {
        permits(Some(by), Action::ManageOutlets)?;
        let current = self
            .store
            .outlet(id)
            .await?
            .ok_or(HubError::NotFound("outlet"))?;
        let timezone = input.timezone.unwrap_or(current.timezone);
        Outlet::validate(&input.name, &input.location, &timezone).map_err(HubError::Invalid)?;
        let outlet = Outlet {
            id,
            name: input.name,
            location: input.location,
            timezone,
        };
        self.store
            .update_outlet(&outlet)
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
        };
        self.store
            .create_user(&user)
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
        permits(Some(by), Action::CreateBooth)?;
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
            online: false,
            last_seen_at: None,
        };
        self.store.create_booth(&booth, token_hash).await?;
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

    /// The caller behind a login token that has not expired.
    pub async fn principal_for_login(
        &self,
        token_hash: &str,
    ) -> Result<Option<Principal>, HubError> {
        let Some(user_id) = self.store.login(token_hash, self.clock.now()).await? else {
            return Ok(None);
        };
        let user = self.store.user(user_id).await?;
        Ok(user.and_then(|user| principal_of(&user)))
    }

    /// The caller behind a booth token.
    pub async fn principal_for_booth(
        &self,
        token_hash: &str,
    ) -> Result<Option<Principal>, HubError> {
        let booth = self.store.booth_by_token(token_hash).await?;
        Ok(booth.map(|b| Principal::Booth {
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
