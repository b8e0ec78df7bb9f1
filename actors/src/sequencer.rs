//! A client's sequencer: puts each subscribed stream's events in `seq` order with no gap and no
//! duplicate, holding early ones, and queues them for the socket's writer. A full queue closes
//! the connection with 4008: a slow client never slows the actors or other clients.
//!
//! Live events reach the sequencer straight from whoever publishes them (no actor message per
//! frame: at 100,000 frames a second the hop was the hub's largest cost). Its connection actor
//! does the slow work: it settles where a subscription starts (the stream's head, a replay
//! from the log) while live events wait, and reads from the log the events a gap is missing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::domain::code::ErrorCode;
use crate::domain::event::{StoredEvent, Stream};
use crate::metrics::{
    EVENTS_DELIVERED, EVENTS_REDELIVERED, WS_CLOSED_SLOW, WS_GAPS_SKIPPED, WS_QUEUE_DEPTH,
};
use crate::router::{Listener, Published};

/// How long an early event waits for the ones before it before they are read from the log.
pub const GAP_WAIT: Duration = Duration::from_millis(200);
/// Gap checks before a gap is given up on (a writer died between its seq and its write).
const GAP_GIVE_UP: u32 = 50;
/// How long a replay waits for room in the queue before the client counts as stalled.
const REPLAY_STALL: Duration = Duration::from_secs(10);

/// Close code for a client that does not keep up (contract §7).
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;

/// What the socket's writer sends, in order.
#[derive(Debug)]
pub enum Outbound {
    Subscribed(Vec<(Stream, u64)>),
    Event {
        event: Arc<Published>,
        redelivery: bool,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// What a sequencer tells the one that owns it (its connection actor).
#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    /// Time to fill a gap from the log if it is still open.
    GapCheck(Stream),
    /// The client is closed (its socket went, or it did not keep up): stop.
    Closed,
}

/// The owner of a sequencer, told of gaps to fill and of the client's end. Implemented by
/// the connection actor's handle; the sequencer knows no actor.
pub trait Owner: Send + Sync {
    fn notify(&self, notice: Notice);
    fn notify_after(&self, delay: Duration, notice: Notice);
}

/// Where a gap in a stream lies: the seqs `next..first_held` are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub next: u64,
    pub first_held: u64,
}

/// One subscribed stream's place.
struct Position {
    /// The next seq the client is owed.
    next: u64,
    /// Events that arrived before the ones they follow.
    held: BTreeMap<u64, Arc<Published>>,
    /// False while the connection actor settles where the stream starts: live events wait.
    live: bool,
    gap_check_armed: bool,
    /// Gap checks in a row that found the missing events not yet in the log.
    gap_checks: u32,
}

#[derive(Default)]
struct State {
    streams: HashMap<Stream, Position>,
    closing: bool,
}

pub struct Sequencer {
    state: Mutex<State>,
    outbound: mpsc::Sender<Outbound>,
    close: watch::Sender<Option<(u16, String)>>,
    /// Told to fill gaps and to stop when the client is closed.
    owner: Box<dyn Owner>,
    delivered: metrics::Counter,
    depth: metrics::Histogram,
    closed_slow: metrics::Counter,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("streams", &self.state().streams.len())
            .finish()
    }
}

impl Sequencer {
    pub fn new(
        outbound: mpsc::Sender<Outbound>,
        close: watch::Sender<Option<(u16, String)>>,
        owner: impl Owner + 'static,
    ) -> Self {
        Sequencer {
            state: Mutex::default(),
            outbound,
            close,
            owner: Box::new(owner),
            delivered: metrics::counter!(EVENTS_DELIVERED),
            depth: metrics::histogram!(WS_QUEUE_DEPTH),
            closed_slow: metrics::counter!(WS_CLOSED_SLOW),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock panics; a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_closing(&self) -> bool {
        self.state().closing
    }

    /// Takes a live event: sends it if it is the next one, holds it if it is early (and
    /// schedules a gap check), drops it if it was already sent.
    pub fn deliver(&self, event: Arc<Published>) {
        let mut state = self.state();
        let seq = event.event.seq;
        let stream = event.event.stream;
        let Some(position) = state.streams.get_mut(&stream) else {
            return;
        };
        if seq < position.next {
            return;
        }
        if seq > position.next || !position.live {
            // Held events are bounded like the queue: a client whose replay or gap lasts
            // while more than a queue's worth arrives is closed and resumes later.
            if position.held.len() >= self.outbound.max_capacity() {
                self.close(
                    &mut state,
                    CLOSE_SLOW_CONSUMER,
                    "slow consumer: resume from your last seq",
                );
                return;
            }
            if position.live && !position.gap_check_armed {
                position.gap_check_armed = true;
                self.arm_gap_check(stream);
            }
            position.held.insert(seq, event);
            return;
        }
        position.next = seq + 1;
        if self.push(
            &mut state,
            Outbound::Event {
                event,
                redelivery: false,
            },
        ) {
            self.release_held(&mut state, stream);
        }
    }

    fn arm_gap_check(&self, stream: Stream) {
        self.owner.notify_after(GAP_WAIT, Notice::GapCheck(stream));
    }

    /// Sends an event the booth actor sends again (no longer in order: the client dedupes).
    pub fn redeliver(&self, event: Arc<Published>) {
        metrics::counter!(EVENTS_REDELIVERED).increment(1);
        let mut state = self.state();
        self.push(
            &mut state,
            Outbound::Event {
                event,
                redelivery: true,
            },
        );
    }

    /// Queues a message that is not a stream's event (`subscribed`, an error).
    pub fn send(&self, message: Outbound) {
        let mut state = self.state();
        self.push(&mut state, message);
    }

    /// Starts (or restarts) a stream at `next`, not yet live: live events wait until
    /// [`Sequencer::go_live`]. Returns whether the stream was new.
    pub fn hold_from(&self, stream: Stream, next: u64) -> bool {
        let mut state = self.state();
        match state.streams.get_mut(&stream) {
            Some(position) => {
                position.next = next;
                position.live = false;
                false
            }
            None => {
                state.streams.insert(
                    stream,
                    Position {
                        next,
                        held: BTreeMap::new(),
                        live: false,
                        gap_check_armed: false,
                        gap_checks: 0,
                    },
                );
                true
            }
        }
    }

    /// The next seq the client is owed on `stream`.
    pub fn next(&self, stream: Stream) -> Option<u64> {
        self.state().streams.get(&stream).map(|p| p.next)
    }

    /// Queues an event read from the log for a stream that is not live yet, waiting a while
    /// for room (a replay may be long). False when the client is gone or stalled.
    pub async fn replay(&self, event: Arc<Published>) -> bool {
        if self.is_closing() {
            return false;
        }
        let (stream, seq) = (event.event.stream, event.event.seq);
        let message = Outbound::Event {
            event,
            redelivery: false,
        };
        match tokio::time::timeout(REPLAY_STALL, self.outbound.send(message)).await {
            Ok(Ok(())) => {
                self.delivered.increment(1);
                if let Some(position) = self.state().streams.get_mut(&stream) {
                    position.next = seq + 1;
                }
                true
            }
            Ok(Err(_)) => {
                self.state().closing = true;
                false
            }
            Err(_) => {
                let mut state = self.state();
                self.close(
                    &mut state,
                    CLOSE_SLOW_CONSUMER,
                    "slow consumer: resume from your last seq",
                );
                false
            }
        }
    }

    /// The stream's start is settled: sends what waited and takes live events from now on.
    pub fn go_live(&self, stream: Stream) {
        let mut state = self.state();
        let Some(position) = state.streams.get_mut(&stream) else {
            return;
        };
        position.live = true;
        self.release_held(&mut state, stream);
        let Some(position) = state.streams.get_mut(&stream) else {
            return;
        };
        if !position.held.is_empty() && !position.gap_check_armed {
            position.gap_check_armed = true;
            self.arm_gap_check(stream);
        }
    }

    pub fn remove(&self, stream: Stream) {
        self.state().streams.remove(&stream);
    }

    pub fn streams(&self) -> Vec<Stream> {
        self.state().streams.keys().copied().collect()
    }

    /// Where `stream` has a gap to fill from the log, if it still has one (the gap check
    /// that was armed is used up).
    pub fn gap(&self, stream: Stream) -> Option<Gap> {
        let mut state = self.state();
        let position = state.streams.get_mut(&stream)?;
        position.gap_check_armed = false;
        let first_held = *position.held.keys().next()?;
        (position.live && first_held > position.next).then_some(Gap {
            next: position.next,
            first_held,
        })
    }

    /// Sends the events read from the log for a gap (those that are next in line) and what
    /// they release. If a gap is still open, checks again later; a gap open for
    /// `GAP_GIVE_UP` checks in a row (a writer died between its seq and its write) is skipped.
    pub fn fill(&self, stream: Stream, events: Vec<StoredEvent>) {
        let mut state = self.state();
        let before = state.streams.get(&stream).map(|p| p.next);
        for event in events {
            let Some(position) = state.streams.get_mut(&stream) else {
                return;
            };
            if event.seq != position.next || !position.live {
                break;
            }
            position.next = event.seq + 1;
            let published = Arc::new(Published::new(event));
            if !self.push(
                &mut state,
                Outbound::Event {
                    event: published,
                    redelivery: false,
                },
            ) {
                return;
            }
        }
        self.release_held(&mut state, stream);
        let Some(position) = state.streams.get_mut(&stream) else {
            return;
        };
        let Some(first_held) = position.held.keys().next().copied() else {
            position.gap_checks = 0;
            return;
        };
        if position.gap_check_armed || !position.live {
            return;
        }
        // A long gap is read a page at a time: only checks that found nothing count
        // towards giving up.
        if before.is_some_and(|next| position.next > next) {
            position.gap_checks = 0;
        } else {
            position.gap_checks += 1;
        }
        if position.gap_checks >= GAP_GIVE_UP {
            warn!(
                %stream,
                missing_from = position.next,
                until = first_held,
                "skipping seqs that never reached the log"
            );
            metrics::counter!(WS_GAPS_SKIPPED).increment(1);
            position.next = first_held;
            position.gap_checks = 0;
            self.release_held(&mut state, stream);
        } else {
            position.gap_check_armed = true;
            self.arm_gap_check(stream);
        }
    }

    /// Sends held events of `stream` that are now next in line.
    fn release_held(&self, state: &mut State, stream: Stream) {
        loop {
            let Some(position) = state.streams.get_mut(&stream) else {
                return;
            };
            if !position.live || position.held.is_empty() {
                return;
            }
            let next = position.next;
            if position
                .held
                .first_key_value()
                .is_some_and(|(seq, _)| *seq < next)
            {
                position.held = position.held.split_off(&next);
            }
            let Some(event) = position.held.remove(&next) else {
                return;
            };
            position.next += 1;
            if !self.push(
                state,
                Outbound::Event {
                    event,
                    redelivery: false,
                },
            ) {
                return;
            }
        }
    }

    /// Queues a message for the socket; a full queue closes the connection with 4008.
    fn push(&self, state: &mut State, message: Outbound) -> bool {
        if state.closing {
            return false;
        }
        let is_event = matches!(message, Outbound::Event { .. });
        match self.outbound.try_send(message) {
            Ok(()) => {
                if is_event {
                    self.delivered.increment(1);
                }
                let depth = self.outbound.max_capacity() - self.outbound.capacity();
                self.depth.record(depth as f64);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(
                    state,
                    CLOSE_SLOW_CONSUMER,
                    "slow consumer: resume from your last seq",
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                state.closing = true;
                self.owner.notify(Notice::Closed);
                false
            }
        }
    }

    /// Closes the client with `code`: nothing more is queued, the writer sends the close
    /// frame, and the connection actor stops (and leaves the router).
    fn close(&self, state: &mut State, code: u16, reason: &str) {
        if state.closing {
            return;
        }
        debug!(code, reason, "closing connection");
        self.closed_slow.increment(1);
        state.closing = true;
        state.streams.clear();
        let _ = self.close.send(Some((code, reason.to_owned())));
        self.owner.notify(Notice::Closed);
    }
}

/// The router hands a subscribed stream's live events straight to the sequencer.
impl Listener for Sequencer {
    fn deliver(&self, event: &Arc<Published>) {
        Sequencer::deliver(self, Arc::clone(event));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use tokio::sync::{mpsc, watch};

    use super::*;
    use crate::domain::event::{Event, EventKind};

    const STREAM: Stream = Stream::All;

    /// Stands in for the connection actor: reports what the sequencer tells it.
    struct Probe(mpsc::UnboundedSender<String>);

    impl Owner for Probe {
        fn notify(&self, notice: Notice) {
            let what = match notice {
                Notice::GapCheck(stream) => format!("gap check {stream}"),
                Notice::Closed => "closed".to_owned(),
            };
            let _ = self.0.send(what);
        }

        fn notify_after(&self, delay: Duration, notice: Notice) {
            let told = Probe(self.0.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                told.notify(notice);
            });
        }
    }

    struct Rig {
        sequencer: Sequencer,
        queue: mpsc::Receiver<Outbound>,
        closed: watch::Receiver<Option<(u16, String)>>,
        told: mpsc::UnboundedReceiver<String>,
    }

    async fn rig(capacity: usize) -> Rig {
        let (told_tx, told) = mpsc::unbounded_channel();
        let (outbound, queue) = mpsc::channel(capacity);
        let (close, closed) = watch::channel(None);
        Rig {
            sequencer: Sequencer::new(outbound, close, Probe(told_tx)),
            queue,
            closed,
            told,
        }
    }

    fn stored(seq: u64) -> StoredEvent {
        StoredEvent {
            stream: STREAM,
            seq,
            event: Event {
                event: EventKind::ConfigUpdated,
                booking_id: None,
                booth_id: None,
                outlet_id: None,
                status: None,
                at: Utc.timestamp_opt(1_790_000_000, 0).single().expect("time"),
                data: serde_json::Value::Null,
            },
        }
    }

    fn event(seq: u64) -> Arc<Published> {
        Arc::new(Published::new(stored(seq)))
    }

    /// The seqs queued for the socket so far.
    fn sent(queue: &mut mpsc::Receiver<Outbound>) -> Vec<u64> {
        let mut seqs = vec![];
        while let Ok(item) = queue.try_recv() {
            if let Outbound::Event { event, .. } = item {
                seqs.push(event.event.seq);
            }
        }
        seqs
    }

    #[tokio::test]
    async fn live_events_leave_in_seq_order_once() {
        // (arrival order, what the client gets)
        let cases: [(&[u64], &[u64]); 5] = [
            (&[1, 2, 3], &[1, 2, 3]),
            (&[2, 1, 3], &[1, 2, 3]),
            (&[3, 2, 1], &[1, 2, 3]),
            (&[1, 1, 2, 1], &[1, 2]),
            (&[2, 3], &[]),
        ];
        for (arrivals, expected) in cases {
            let mut rig = rig(64).await;
            rig.sequencer.hold_from(STREAM, 1);
            rig.sequencer.go_live(STREAM);
            for seq in arrivals {
                rig.sequencer.deliver(event(*seq));
            }
            assert_eq!(sent(&mut rig.queue), expected, "arrivals {arrivals:?}");
        }
    }

    #[tokio::test]
    async fn events_wait_while_the_start_is_settled_and_replayed_ones_are_not_repeated() {
        let mut rig = rig(64).await;
        rig.sequencer.hold_from(STREAM, 0);
        rig.sequencer.deliver(event(4));
        rig.sequencer.deliver(event(5));
        assert!(
            sent(&mut rig.queue).is_empty(),
            "nothing before the start is settled"
        );
        // The client resumes after 2: the log has 3 and 4.
        rig.sequencer.hold_from(STREAM, 3);
        for seq in [3, 4] {
            assert!(rig.sequencer.replay(event(seq)).await);
        }
        rig.sequencer.go_live(STREAM);
        rig.sequencer.deliver(event(6));
        assert_eq!(sent(&mut rig.queue), vec![3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn held_events_are_bounded_by_the_queue_and_one_more_closes_with_4008() {
        let mut rig = rig(8).await;
        // A long replay: live events wait, up to a queue's worth.
        rig.sequencer.hold_from(STREAM, 1);
        for seq in 100..108 {
            rig.sequencer.deliver(event(seq));
        }
        assert!(rig.closed.borrow().is_none(), "eight held fit");
        rig.sequencer.deliver(event(108));
        let code = rig.closed.borrow().as_ref().map(|(code, _)| *code);
        assert_eq!(code, Some(CLOSE_SLOW_CONSUMER));
        assert!(rig.sequencer.is_closing());
        assert!(sent(&mut rig.queue).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_gap_filled_a_page_at_a_time_is_not_given_up() {
        let mut rig = rig(4096).await;
        rig.sequencer.hold_from(STREAM, 1);
        rig.sequencer.go_live(STREAM);
        rig.sequencer.deliver(event(3000));
        // Each check reads one page of what is missing (60 pages, more than the give-up
        // count): progress is not a failed check.
        let mut next = 1;
        for _ in 0..(GAP_GIVE_UP + 20) {
            let Some(gap) = rig.sequencer.gap(STREAM) else {
                break;
            };
            let page: Vec<StoredEvent> = (gap.next..gap.first_held).take(50).map(stored).collect();
            next += page.len() as u64;
            rig.sequencer.fill(STREAM, page);
        }
        assert_eq!(next, 3000, "every missing event was read");
        let sent = sent(&mut rig.queue);
        assert_eq!(sent.len(), 3000);
        assert!(
            sent.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, none skipped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_is_checked_and_filled_from_the_log() {
        let mut rig = rig(64).await;
        rig.sequencer.hold_from(STREAM, 1);
        rig.sequencer.go_live(STREAM);
        rig.sequencer.deliver(event(1));
        rig.sequencer.deliver(event(4));
        assert_eq!(sent(&mut rig.queue), vec![1]);
        assert_eq!(rig.told.recv().await.as_deref(), Some("gap check all"));
        let gap = rig.sequencer.gap(STREAM);
        assert_eq!(
            gap,
            Some(Gap {
                next: 2,
                first_held: 4
            })
        );
        rig.sequencer.fill(STREAM, vec![stored(2), stored(3)]);
        assert_eq!(sent(&mut rig.queue), vec![2, 3, 4]);
        assert_eq!(rig.sequencer.gap(STREAM), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_that_never_reaches_the_log_is_skipped() {
        let mut rig = rig(64).await;
        rig.sequencer.hold_from(STREAM, 1);
        rig.sequencer.go_live(STREAM);
        rig.sequencer.deliver(event(2));
        for _ in 0..GAP_GIVE_UP {
            assert_eq!(rig.told.recv().await.as_deref(), Some("gap check all"));
            assert!(rig.sequencer.gap(STREAM).is_some());
            rig.sequencer.fill(STREAM, vec![]);
        }
        assert_eq!(sent(&mut rig.queue), vec![2]);
    }

    #[tokio::test]
    async fn a_full_queue_closes_with_4008_and_takes_nothing_more() {
        let mut rig = rig(8).await;
        rig.sequencer.hold_from(STREAM, 1);
        rig.sequencer.go_live(STREAM);
        for seq in 1..=9 {
            rig.sequencer.deliver(event(seq));
        }
        let close = rig.closed.borrow().clone();
        assert_eq!(close.map(|(code, _)| code), Some(CLOSE_SLOW_CONSUMER));
        assert!(rig.sequencer.is_closing());
        assert_eq!(rig.told.recv().await.as_deref(), Some("closed"));
        rig.sequencer.deliver(event(10));
        assert_eq!(sent(&mut rig.queue), (1..=8).collect::<Vec<_>>());
    }
}
