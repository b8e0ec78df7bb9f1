//! Open WebSockets by the token that opened them: at most `max_per_token` at a time (contract
//! §2), the oldest closed with 4409 when one more opens; and closed with 4401 the moment their
//! token stops working (logout, expiry, rotation, deactivation, a password change). Keyed by
//! the token's hash, never the token. Knows no socket: it holds each connection's close signal.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use boothhub_actors::domain::access::Principal;
use boothhub_actors::domain::ids::{BoothId, UserId};
use boothhub_actors::store::Revocation;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use tokio::sync::watch;

use crate::metrics::{WS_CLOSED_REVOKED, WS_CLOSED_TOO_MANY};

/// Close code for a token that opened too many connections.
pub const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4409;
/// Close code for a token that stopped working: the client signs in again, no reconnect.
pub const CLOSE_REVOKED: u16 = 4401;
/// Close code for a socket whose user's role or outlet changed: it reconnects with its new
/// scope (policy violation; every code but 4401 means "reconnect").
pub const CLOSE_SCOPE_CHANGED: u16 = 1008;

/// The close signal a socket's writer watches: code and reason.
pub type CloseSignal = watch::Sender<Option<(u16, String)>>;

/// Who a token belongs to, and until when it works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub principal: Principal,
    /// A login token's expiry; booth tokens work until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct TokenEntry {
    holder: Holder,
    sockets: VecDeque<(u64, CloseSignal)>,
}

#[derive(Debug)]
pub struct TokenSockets {
    max_per_token: usize,
    next_id: AtomicU64,
    open: DashMap<String, TokenEntry>,
}

/// A registered socket; give it back with [`TokenSockets::remove`] when it closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    token_hash: String,
    id: u64,
}

impl TokenSockets {
    pub fn new(max_per_token: usize) -> Self {
        TokenSockets {
            max_per_token,
            next_id: AtomicU64::new(1),
            open: DashMap::new(),
        }
    }

    /// Registers a socket of `token_hash`; closes the token's oldest sockets beyond the cap.
    pub fn add(&self, token_hash: &str, holder: Holder, close: CloseSignal) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted: Vec<CloseSignal> = {
            let mut entry = self
                .open
                .entry(token_hash.to_owned())
                .or_insert_with(|| TokenEntry {
                    holder,
                    sockets: VecDeque::new(),
                });
            entry.sockets.push_back((id, close));
            let excess = entry.sockets.len().saturating_sub(self.max_per_token);
            entry
                .sockets
                .drain(..excess)
                .map(|(_, close)| close)
                .collect()
        };
        for close in evicted {
            metrics::counter!(WS_CLOSED_TOO_MANY).increment(1);
            let _ = close.send(Some((
                CLOSE_TOO_MANY_CONNECTIONS,
                "too many connections for this token".into(),
            )));
        }
        Registration {
            token_hash: token_hash.to_owned(),
            id,
        }
    }

    pub fn remove(&self, registration: &Registration) {
        let emptied = self
            .open
            .get_mut(&registration.token_hash)
            .is_some_and(|mut entry| {
                entry.sockets.retain(|(id, _)| *id != registration.id);
                entry.sockets.is_empty()
            });
        if emptied {
            self.open.remove_if(&registration.token_hash, |_, entry| {
                entry.sockets.is_empty()
            });
        }
    }

    /// Closes every socket of the tokens `which` picks with `code`; answers how many.
    fn close_where(&self, which: impl Fn(&str, &Holder) -> bool, code: u16, reason: &str) -> usize {
        let mut closed = 0;
        for entry in self.open.iter() {
            if which(entry.key(), &entry.holder) {
                for (_, close) in &entry.sockets {
                    let _ = close.send(Some((code, reason.to_owned())));
                    closed += 1;
                }
            }
        }
        if code == CLOSE_REVOKED {
            metrics::counter!(WS_CLOSED_REVOKED).increment(closed as u64);
        }
        closed
    }

    /// Closes every open socket with `code` (shutdown: 1001); answers how many.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        self.close_where(|_, _| true, code, reason)
    }

    /// The tokens (hashes) stopped working: their sockets close with 4401.
    pub fn revoke_tokens(&self, token_hashes: &[String], reason: &str) -> usize {
        self.close_where(
            |hash, _| token_hashes.iter().any(|h| h == hash),
            CLOSE_REVOKED,
            reason,
        )
    }

    /// Every token of a booth stopped working (rotation, deactivation).
    pub fn revoke_booth(&self, booth: BoothId, reason: &str) -> usize {
        self.close_where(
            |_, holder| holder.principal.booth_id() == Some(booth),
            CLOSE_REVOKED,
            reason,
        )
    }

    /// Closes the sockets a revocation names (here or announced by another node).
    pub fn apply(&self, revocation: &Revocation) -> usize {
        match revocation {
            Revocation::Tokens { hashes, reason } => self.revoke_tokens(hashes, reason),
            Revocation::Booth { booth, reason } => self.revoke_booth(*booth, reason),
            Revocation::Rescope { user } => self.rescope_user(*user),
        }
    }

    /// A user's role or outlet changed: its sockets reconnect with the new scope.
    pub fn rescope_user(&self, user: UserId) -> usize {
        self.close_where(
            |_, holder| holder.principal.user_id() == Some(user),
            CLOSE_SCOPE_CHANGED,
            "your role or outlet changed: reconnect",
        )
    }

    /// Closes with 4401 the sockets of login tokens expired at `now`; answers how many.
    pub fn close_expired(&self, now: DateTime<Utc>) -> usize {
        self.close_where(
            |_, holder| holder.expires_at.is_some_and(|at| at <= now),
            CLOSE_REVOKED,
            "the login expired: sign in again",
        )
    }

    /// Open sockets of every token.
    pub fn total(&self) -> usize {
        self.open.iter().map(|entry| entry.sockets.len()).sum()
    }

    /// Open sockets of a token.
    pub fn count(&self, token_hash: &str) -> usize {
        self.open
            .get(token_hash)
            .map_or(0, |entry| entry.sockets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> Holder {
        Holder {
            principal: Principal::SuperAdmin {
                user_id: UserId::new(),
            },
            expires_at: None,
        }
    }

    fn closed_with(signal: &watch::Receiver<Option<(u16, String)>>) -> Option<u16> {
        signal.borrow().as_ref().map(|(code, _)| *code)
    }

    #[test]
    fn one_socket_too_many_closes_the_oldest_with_4409() {
        let sockets = TokenSockets::new(2);
        let (first, first_rx) = watch::channel(None);
        let (second, second_rx) = watch::channel(None);
        let (third, third_rx) = watch::channel(None);
        let a = sockets.add("t", holder(), first);
        let b = sockets.add("t", holder(), second);
        let (other, other_rx) = watch::channel(None);
        sockets.add("u", holder(), other);
        assert_eq!(closed_with(&first_rx), None);
        let c = sockets.add("t", holder(), third);
        assert_eq!(closed_with(&first_rx), Some(4409));
        assert_eq!(closed_with(&second_rx), None);
        assert_eq!(closed_with(&third_rx), None);
        assert_eq!(closed_with(&other_rx), None, "other tokens are not touched");
        assert_eq!(sockets.count("t"), 2);
        sockets.remove(&a);
        assert_eq!(sockets.count("t"), 2, "the evicted one was already gone");
        sockets.remove(&b);
        sockets.remove(&c);
        assert_eq!(sockets.count("t"), 0);
        assert!(!sockets.open.contains_key("t"), "no entry left behind");
    }

    #[test]
    fn close_all_closes_every_socket_of_every_token() {
        let sockets = TokenSockets::new(20);
        let signals: Vec<_> = ["a", "a", "b"]
            .iter()
            .map(|token| {
                let (close, closed) = watch::channel(None);
                sockets.add(token, holder(), close);
                closed
            })
            .collect();
        assert_eq!(sockets.close_all(1001, "bye"), 3);
        for signal in &signals {
            assert_eq!(closed_with(signal), Some(1001));
        }
    }

    #[test]
    fn revocation_closes_the_sockets_of_the_tokens_it_ends_with_4401() {
        let sockets = TokenSockets::new(20);
        let (user, booth) = (UserId::new(), BoothId::new());
        let now = DateTime::UNIX_EPOCH;
        let admin = Holder {
            principal: Principal::SuperAdmin { user_id: user },
            expires_at: Some(now + chrono::Duration::hours(1)),
        };
        let kiosk = Holder {
            principal: Principal::Booth {
                booth_id: booth,
                outlet_id: boothhub_actors::domain::ids::OutletId::new(),
            },
            expires_at: None,
        };
        let open = |token: &str, holder: Holder| {
            let (close, closed) = watch::channel(None);
            sockets.add(token, holder, close);
            closed
        };
        let (first, second, third) = (open("a", admin), open("b", admin), open("k", kiosk));
        assert_eq!(sockets.revoke_tokens(&["a".to_owned()], "logout"), 1);
        assert_eq!(closed_with(&first), Some(4401));
        assert_eq!(
            closed_with(&second),
            None,
            "another login of the user stays"
        );
        assert_eq!(sockets.close_expired(now), 0);
        assert_eq!(sockets.close_expired(now + chrono::Duration::hours(2)), 2);
        assert_eq!(closed_with(&second), Some(4401));
        assert_eq!(closed_with(&third), None, "booth tokens do not expire");
        assert_eq!(sockets.rescope_user(user), 2);
        assert_eq!(sockets.revoke_booth(booth, "rotated"), 1);
        assert_eq!(closed_with(&third), Some(4401));
    }
}
