//! Typed id → actor reference, with a race-free find-or-start: concurrent callers for one id
//! share one start, so a booking never has two session actors.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;
use ractor::{ActorId, ActorRef};
use tokio::sync::OnceCell;

/// The live actors of one kind, keyed by their id.
pub struct ActorTable<K: Eq + Hash, M: Send + 'static> {
    cells: DashMap<K, Arc<OnceCell<ActorRef<M>>>>,
    keys: DashMap<ActorId, K>,
}

impl<K: Eq + Hash, M: Send + 'static> std::fmt::Debug for ActorTable<K, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorTable")
            .field("actors", &self.keys.len())
            .finish()
    }
}

impl<K, M> Default for ActorTable<K, M>
where
    K: Eq + Hash + Copy,
    M: Send + 'static,
{
    fn default() -> Self {
        ActorTable {
            cells: DashMap::new(),
            keys: DashMap::new(),
        }
    }
}

impl<K, M> ActorTable<K, M>
where
    K: Eq + Hash + Copy + Send + Sync,
    M: Send + 'static,
{
    /// The actor for `key`, started with `start` when there is none. Callers racing for the
    /// same key wait for the one start; a failed start leaves no entry behind.
    pub async fn get_or_start<E, F, Fut>(&self, key: K, start: F) -> Result<ActorRef<M>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ActorRef<M>, E>>,
    {
        let cell = Arc::clone(&*self.cells.entry(key).or_default());
        let started = cell.get_or_try_init(start).await;
        match started {
            Ok(actor) => {
                self.keys.insert(actor.get_id(), key);
                Ok(actor.clone())
            }
            Err(err) => {
                self.cells.remove_if(&key, |_, c| Arc::ptr_eq(c, &cell));
                Err(err)
            }
        }
    }

    pub fn get(&self, key: &K) -> Option<ActorRef<M>> {
        self.cells.get(key).and_then(|cell| cell.get().cloned())
    }

    /// Forgets the actor `id` (it stopped or failed); returns its key.
    pub fn forget(&self, id: ActorId) -> Option<K> {
        let (_, key) = self.keys.remove(&id)?;
        self.cells
            .remove_if(&key, |_, cell| cell.get().is_some_and(|a| a.get_id() == id));
        Some(key)
    }

    pub fn actors(&self) -> Vec<ActorRef<M>> {
        self.cells
            .iter()
            .filter_map(|entry| entry.value().get().cloned())
            .collect()
    }

    /// The actors whose key passes `pick`.
    pub fn actors_where(&self, pick: impl Fn(&K) -> bool) -> Vec<ActorRef<M>> {
        self.cells
            .iter()
            .filter(|entry| pick(entry.key()))
            .filter_map(|entry| entry.value().get().cloned())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
