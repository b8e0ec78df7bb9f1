//! Stream name → listeners: where committed events go. Publishing never waits: each listener
//! takes the event into its own mailbox or bounded queue. Listeners are whatever implements
//! [`Listener`] (a connection's sequencer, a booth's handle, an in-process channel), so the
//! router knows no actor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::domain::event::{StoredEvent, Stream};

/// The wire formats an event is encoded in for clients, each encoded at most once per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    MessagePack,
    Json,
}

/// A committed event on its way to listeners, stamped when it was published (push latency
/// is measured from here to the frame written).
#[derive(Debug)]
pub struct Published {
    pub event: StoredEvent,
    pub at: Instant,
    /// The event as the transport encodes it, one slot per wire format, made by the first
    /// subscriber that needs it: a thousand subscribers cost one encoding.
    encoded: [OnceLock<Vec<u8>>; 2],
}

impl Published {
    pub fn new(event: StoredEvent) -> Self {
        Published {
            event,
            at: Instant::now(),
            encoded: Default::default(),
        }
    }

    /// The event in `format`, made with `encode` the first time.
    pub fn encoded(
        &self,
        format: WireFormat,
        encode: impl FnOnce(&StoredEvent) -> Vec<u8>,
    ) -> &[u8] {
        let slot = match format {
            WireFormat::MessagePack => &self.encoded[0],
            WireFormat::Json => &self.encoded[1],
        };
        slot.get_or_init(|| encode(&self.event))
    }
}

/// Who listens to a stream. `deliver` is called on the publisher's task and must not wait.
pub trait Listener: Send + Sync {
    fn deliver(&self, event: &Arc<Published>);
}

/// An in-process channel (tests, tools).
impl Listener for mpsc::UnboundedSender<Arc<Published>> {
    fn deliver(&self, event: &Arc<Published>) {
        let _ = self.send(Arc::clone(event));
    }
}

/// Identifies one registration, to remove it again.
pub type ListenerId = u64;

/// One listener of a stream, with the id it was registered under.
type Registration = (ListenerId, Arc<dyn Listener>);

/// Stream → its listeners.
#[derive(Default)]
pub struct StreamRouter {
    listeners: DashMap<Stream, Vec<Registration>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for StreamRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRouter")
            .field("streams", &self.listeners.len())
            .finish()
    }
}

impl StreamRouter {
    pub fn listen(&self, stream: Stream, listener: Arc<dyn Listener>) -> ListenerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.listeners
            .entry(stream)
            .or_default()
            .push((id, listener));
        id
    }

    pub fn unlisten(&self, stream: Stream, id: ListenerId) {
        if let Some(mut listeners) = self.listeners.get_mut(&stream) {
            listeners.retain(|(listener, _)| *listener != id);
        }
        self.listeners
            .remove_if(&stream, |_, listeners| listeners.is_empty());
    }

    /// Hands `event` to every listener of its stream.
    pub fn publish(&self, event: &Arc<Published>) {
        if let Some(listeners) = self.listeners.get(&event.event.stream) {
            for (_, listener) in listeners.iter() {
                listener.deliver(event);
            }
        }
    }

    pub fn listener_count(&self, stream: Stream) -> usize {
        self.listeners.get(&stream).map_or(0, |l| l.len())
    }
}
