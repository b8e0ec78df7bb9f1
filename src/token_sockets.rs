//! Open WebSockets by the token that opened them: at most `max_per_token` at a time (contract
//! §2), the oldest closed with 4409 when one more opens. Keyed by the token's hash, never the
//! token. Knows no socket: it holds each connection's close signal.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::WS_CLOSED_TOO_MANY;
use dashmap::DashMap;
use tokio::sync::watch;

/// Close code for a token that opened too many connections.
pub const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4409;

/// The close signal a socket's writer watches: code and reason.
pub type CloseSignal = watch::Sender<Option<(u16, String)>>;

#[derive(Debug)]
pub struct TokenSockets {
    max_per_token: usize,
    next_id: AtomicU64,
    open: DashMap<String, VecDeque<(u64, CloseSignal)>>,
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
    pub fn add(&self, token_hash: &str, close: CloseSignal) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted: Vec<CloseSignal> = {
            let mut sockets = self.open.entry(token_hash.to_owned()).or_default();
            sockets.push_back((id, close));
            let excess = sockets.len().saturating_sub(self.max_per_token);
            sockets.drain(..excess).map(|(_, close)| close).collect()
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
            .is_some_and(|mut sockets| {
                sockets.retain(|(id, _)| *id != registration.id);
                sockets.is_empty()
            });
        if emptied {
            self.open
                .remove_if(&registration.token_hash, |_, sockets| sockets.is_empty());
        }
    }

    /// Closes every open socket with `code` (shutdown: 1001); answers how many.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        let mut closed = 0;
        for sockets in self.open.iter() {
            for (_, close) in sockets.iter() {
                let _ = close.send(Some((code, reason.to_owned())));
                closed += 1;
            }
        }
        closed
    }

    /// Open sockets of a token.
    pub fn count(&self, token_hash: &str) -> usize {
        self.open.get(token_hash).map_or(0, |sockets| sockets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_with(signal: &watch::Receiver<Option<(u16, String)>>) -> Option<u16> {
        signal.borrow().as_ref().map(|(code, _)| *code)
    }

    #[test]
    fn one_socket_too_many_closes_the_oldest_with_4409() {
        let sockets = TokenSockets::new(2);
        let (first, first_rx) = watch::channel(None);
        let (second, second_rx) = watch::channel(None);
        let (third, third_rx) = watch::channel(None);
        let a = sockets.add("t", first);
        let b = sockets.add("t", second);
        let (other, other_rx) = watch::channel(None);
        sockets.add("u", other);
        assert_eq!(closed_with(&first_rx), None);
        let c = sockets.add("t", third);
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
                sockets.add(token, close);
                closed
            })
            .collect();
        assert_eq!(sockets.close_all(1001, "bye"), 3);
        for signal in &signals {
            assert_eq!(closed_with(signal), Some(1001));
        }
    }
}
