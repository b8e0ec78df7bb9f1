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

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A committed event on its way to listeners, stamped when it was published (push latency
/// is measured from here to the frame written).
#[derive(Debug)]
pub struct Published {
    pub event: crate::domain::event::StoredEvent,
    pub at: std::time::Instant,
    /// The event as the transport encodes it, one slot per wire format, made by the first
    /// subscriber that needs it: a thousand subscribers cost one encoding.
    encoded: [std::sync::OnceLock<Vec<u8>>; 2],
}

impl Published {
    pub fn new(event: crate::domain::event::StoredEvent) -> Self {
        Published {
            event,
            at: std::time::Instant::now(),
            encoded: Default::default(),
        }
    }

    /// The encoding in `slot` (0 or 1), made with `encode` the first time.
    pub fn encoded(
        &self,
        slot: usize,
        encode: impl FnOnce(&crate::domain::event::StoredEvent) -> Vec<u8>,
    ) -> &[u8] {
        match self.encoded.get(slot) {
            Some(cell) => cell.get_or_init(|| encode(&self.event)),
            None => &[],
        }
    }
}

/// Who listens to a stream.
pub enum Listener {
    /// A client's sequencer, which takes the event on the publisher's task.
    Connection(Arc<crate::sequencer::Sequencer>),
    Booth(ActorRef<crate::booth::BoothMsg>),
    /// An in-process channel (tests, tools).
    Channel(tokio::sync::mpsc::UnboundedSender<Arc<Published>>),
}

impl Listener {
    fn send(&self, event: &Arc<Published>) {
        match self {
            Listener::Connection(sequencer) => sequencer.deliver(Arc::clone(event)),
            Listener::Booth(actor) => {
                let _ = actor.cast(crate::booth::BoothMsg::Deliver(Arc::clone(event)));
            }
            Listener::Channel(tx) => {
                let _ = tx.send(Arc::clone(event));
            }
        }
    }
}

/// Identifies one registration, to remove it again.
pub type ListenerId = u64;

/// Stream name → its listeners. Publishing never waits: each listener gets a message in its
/// mailbox (connections then bound what they queue for the socket).
#[derive(Default)]
pub struct StreamRouter {
    listeners: DashMap<String, Vec<(ListenerId, Listener)>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for StreamRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRouter")
            .field("streams", &self.listeners.len())
            .finish()
    }
}

impl StreamRouter {
    pub fn listen(&self, stream: &str, listener: Listener) -> ListenerId {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.listeners
            .entry(stream.to_owned())
            .or_default()
            .push((id, listener));
        id
    }

    pub fn unlisten(&self, stream: &str, id: ListenerId) {
        if let Some(mut listeners) = self.listeners.get_mut(stream) {
            listeners.retain(|(listener, _)| *listener != id);
        }
        self.listeners
            .remove_if(stream, |_, listeners| listeners.is_empty());
    }

    /// Hands `event` to every listener of its stream.
    pub fn publish(&self, event: &Arc<Published>) {
        if let Some(listeners) = self.listeners.get(&event.event.stream) {
            for (_, listener) in listeners.iter() {
                listener.send(event);
            }
        }
    }

    pub fn listener_count(&self, stream: &str) -> usize {
        self.listeners.get(stream).map_or(0, |l| l.len())
    }
}
