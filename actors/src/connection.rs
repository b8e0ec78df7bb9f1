//! The connection actor: one per WebSocket client. It owns the client's subscriptions: checks
//! them, registers its [`Sequencer`] with the router, settles where each stream starts (its
//! head, or a replay from the log on resume) and fills gaps from the log. Live events do not
//! pass through it: the router hands them to the sequencer directly. Knows no socket and no
//! wire format.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tracing::instrument;

use crate::booth::BoothHandle;
use crate::context::HubContext;
use crate::domain::access::Principal;
use crate::domain::code::ErrorCode;
use crate::domain::event::Stream;
use crate::metrics::{WS_GAPS_FILLED, WS_STREAMS_REFUSED};
use crate::router::{ListenerId, Published, StreamRouter};
use crate::sequencer::{Notice, Outbound, Owner, Sequencer};

/// How many events a replay reads at a time.
const REPLAY_PAGE: u32 = 500;

/// What a client asks of its connection.
#[derive(Debug)]
pub enum ClientRequest {
    Subscribe {
        streams: Vec<String>,
        resume: HashMap<String, u64>,
    },
    Unsubscribe {
        streams: Vec<String>,
    },
    Ack {
        stream: String,
        seq: u64,
    },
}

/// One of the few places a client's socket reader has in the actor's mailbox, given back
/// when its request is handled: the reader waits for one before it reads on, so a client
/// cannot pile requests up in the (unbounded) mailbox.
#[derive(Debug, Default)]
pub struct Turn {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Turn {
    pub fn new(permit: OwnedSemaphorePermit) -> Self {
        Turn {
            _permit: Some(permit),
        }
    }
}

pub enum ConnMsg {
    /// A client's request, holding its reader's turn until it is handled.
    Client { request: ClientRequest, turn: Turn },
    /// Time to fill a gap from the log if it is still open.
    GapCheck(Stream),
    /// The socket closed, or the client is closed for not keeping up.
    Closed,
}

impl From<Notice> for ConnMsg {
    fn from(notice: Notice) -> Self {
        match notice {
            Notice::GapCheck(stream) => ConnMsg::GapCheck(stream),
            Notice::Closed => ConnMsg::Closed,
        }
    }
}

/// What a transport holds of a client's connection actor: hand it the client's requests,
/// tell it the socket closed.
#[derive(Clone, Debug)]
pub struct ConnectionHandle(ActorRef<ConnMsg>);

impl ConnectionHandle {
    pub fn new(actor: ActorRef<ConnMsg>) -> Self {
        ConnectionHandle(actor)
    }

    /// Hands over a client's request; `turn` is given back when it is handled. False when
    /// the actor is gone.
    pub fn request(&self, request: ClientRequest, turn: Turn) -> bool {
        self.0.cast(ConnMsg::Client { request, turn }).is_ok()
    }

    /// The socket closed: the actor leaves its streams and stops.
    pub fn closed(&self) {
        let _ = self.0.cast(ConnMsg::Closed);
    }

    /// Stops the actor and waits for it (tests, shutdown).
    pub async fn stop_and_wait(&self) {
        let _ = self.0.stop_and_wait(None, None).await;
    }
}

/// The sequencer's owner is the connection actor: its notices become the actor's messages.
impl Owner for ActorRef<ConnMsg> {
    fn notify(&self, notice: Notice) {
        let _ = self.cast(ConnMsg::from(notice));
    }

    fn notify_after(&self, delay: Duration, notice: Notice) {
        drop(self.send_after(delay, move || ConnMsg::from(notice)));
    }
}

pub struct ConnectionArgs {
    pub ctx: Arc<HubContext>,
    pub principal: Principal,
    pub outbound: mpsc::Sender<Outbound>,
    pub close: watch::Sender<Option<(u16, String)>>,
    /// The booth actor, for a booth's connection.
    pub booth: Option<BoothHandle>,
    /// Streams the client may hold subscribed at once.
    pub max_streams: usize,
}

pub struct ConnectionState {
    args: ConnectionArgs,
    sequencer: Arc<Sequencer>,
    /// Subscribed stream → its registration with the router.
    listeners: HashMap<Stream, ListenerId>,
}

pub struct ConnectionActor;

impl Actor for ConnectionActor {
    type Msg = ConnMsg;
    type State = ConnectionState;
    type Arguments = ConnectionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ConnMsg>,
        args: ConnectionArgs,
    ) -> Result<ConnectionState, ActorProcessingErr> {
        let sequencer = Sequencer::new(args.outbound.clone(), args.close.clone(), myself);
        Ok(ConnectionState {
            args,
            sequencer: Arc::new(sequencer),
            listeners: HashMap::new(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<ConnMsg>,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        if let Principal::Booth { booth_id, .. } = state.args.principal {
            // A booth is subscribed to its own stream at connect.
            let own = Stream::Booth(booth_id).to_string();
            state.subscribe(vec![own], HashMap::new()).await;
            if let Some(booth) = &state.args.booth {
                booth.connected(myself.get_id(), Arc::clone(&state.sequencer));
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ConnMsg>,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        state.unsubscribe_all();
        if let Some(booth) = &state.args.booth {
            booth.disconnected(myself.get_id());
        }
        Ok(())
    }

    #[instrument(name = "connection", skip_all, fields(actor = %myself.get_id(), principal = ?state.args.principal))]
    async fn handle(
        &self,
        myself: ActorRef<ConnMsg>,
        msg: ConnMsg,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConnMsg::Client { request, turn } => {
                match request {
                    ClientRequest::Subscribe { streams, resume } => {
                        state.subscribe(streams, resume).await
                    }
                    ClientRequest::Unsubscribe { streams } => {
                        // A name that is no stream was never subscribed: nothing to leave.
                        let streams: Vec<Stream> = streams
                            .iter()
                            .filter_map(|name| name.parse().ok())
                            .collect();
                        state.unsubscribe(&streams)
                    }
                    ClientRequest::Ack { stream, seq } => state.ack(&stream, seq),
                }
                drop(turn);
            }
            ConnMsg::GapCheck(stream) => state.fill_gap(stream).await,
            ConnMsg::Closed => {
                myself.stop(None);
                return Ok(());
            }
        }
        if state.sequencer.is_closing() {
            state.unsubscribe_all();
            myself.stop(None);
        }
        Ok(())
    }
}

impl ConnectionState {
    fn router(&self) -> &StreamRouter {
        &self.args.ctx.router
    }

    async fn may_subscribe(&self, stream: Stream) -> bool {
        let booth_outlet = match (stream, self.args.principal) {
            (Stream::Booth(id), Principal::Admin { .. }) => self
                .args
                .ctx
                .store
                .booth(id)
                .await
                .ok()
                .flatten()
                .map(|b| b.outlet_id),
            _ => None,
        };
        self.args.principal.may_subscribe(stream, booth_outlet)
    }

    fn refuse(&self, code: ErrorCode, message: String) {
        self.sequencer.send(Outbound::Error { code, message });
    }

    async fn subscribe(&mut self, streams: Vec<String>, resume: HashMap<String, u64>) {
        let mut subscribed = vec![];
        let mut replays = vec![];
        let mut over_cap = 0;
        for name in streams {
            let Ok(stream) = name.parse::<Stream>() else {
                let message =
                    format!("{name:?} is not a stream: use booth:<id>, outlet:<id> or all");
                self.refuse(ErrorCode::BadStream, message);
                continue;
            };
            // The cap is checked first: a refused stream costs no store read.
            let is_new = !self.listeners.contains_key(&stream);
            if is_new && self.listeners.len() >= self.args.max_streams {
                over_cap += 1;
                continue;
            }
            if !self.may_subscribe(stream).await {
                self.refuse(
                    ErrorCode::Forbidden,
                    format!("you may not subscribe to {name}"),
                );
                continue;
            }
            // Live events wait in the sequencer from the moment it listens until the start
            // is settled, so none falls between the head read and the first live one.
            self.sequencer.hold_from(stream, 0);
            if !self.listeners.contains_key(&stream) {
                let listener = self
                    .router()
                    .listen(stream, Arc::clone(&self.sequencer) as _);
                self.listeners.insert(stream, listener);
            }
            let head = match self.args.ctx.store.stream_head(stream).await {
                Ok(head) => head,
                Err(err) => {
                    self.unsubscribe(&[stream]);
                    self.refuse(ErrorCode::Unavailable, err.to_string());
                    continue;
                }
            };
            let from = resume
                .get(&stream.to_string())
                .map_or(head, |seq| (*seq).min(head));
            self.sequencer.hold_from(stream, from + 1);
            if from < head {
                replays.push(stream);
            } else {
                self.sequencer.go_live(stream);
            }
            subscribed.push((stream, head));
        }
        if over_cap > 0 {
            metrics::counter!(WS_STREAMS_REFUSED).increment(over_cap);
            let max = self.args.max_streams;
            self.refuse(
                ErrorCode::TooManyStreams,
                format!("{over_cap} stream(s) refused: a connection holds at most {max} streams"),
            );
        }
        if !subscribed.is_empty() {
            self.sequencer.send(Outbound::Subscribed(subscribed));
        }
        for stream in replays {
            self.replay(stream).await;
        }
    }

    /// Sends every logged event from the stream's `next` on, then whatever came live meanwhile.
    async fn replay(&mut self, stream: Stream) {
        loop {
            let Some(next) = self.sequencer.next(stream) else {
                return;
            };
            let page = match self
                .args
                .ctx
                .store
                .events_after(stream, next - 1, REPLAY_PAGE)
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    self.refuse(ErrorCode::Unavailable, err.to_string());
                    break;
                }
            };
            let full = page.len() == REPLAY_PAGE as usize;
            for event in page {
                if !self.sequencer.replay(Arc::new(Published::new(event))).await {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        self.sequencer.go_live(stream);
    }

    fn unsubscribe(&mut self, streams: &[Stream]) {
        for &stream in streams {
            if let Some(listener) = self.listeners.remove(&stream) {
                self.args.ctx.router.unlisten(stream, listener);
            }
            self.sequencer.remove(stream);
        }
    }

    fn unsubscribe_all(&mut self) {
        let streams: Vec<Stream> = self.listeners.keys().copied().collect();
        self.unsubscribe(&streams);
    }

    fn ack(&self, stream: &str, seq: u64) {
        let own = match self.args.principal {
            Principal::Booth { booth_id, .. } => stream.parse() == Ok(Stream::Booth(booth_id)),
            _ => false,
        };
        if let (true, Some(booth)) = (own, &self.args.booth) {
            booth.acked(seq);
        }
    }

    /// Reads from the log the events a held one is waiting for; the sequencer sends them and
    /// decides whether to check again.
    async fn fill_gap(&mut self, stream: Stream) {
        let mut events = vec![];
        if let Some(gap) = self.sequencer.gap(stream) {
            // A page at a time: the rest of a long gap is read at the next check.
            let missing = u32::try_from(gap.first_held - gap.next)
                .unwrap_or(u32::MAX)
                .min(REPLAY_PAGE);
            metrics::counter!(WS_GAPS_FILLED).increment(1);
            if let Ok(read) = self
                .args
                .ctx
                .store
                .events_after(stream, gap.next - 1, missing)
                .await
            {
                events = read;
            }
        }
        self.sequencer.fill(stream, events);
    }
}

#[cfg(test)]
mod tests {
    //! A client's connection in the test world: ordered delivery, gap filling, backpressure.

    use std::sync::Arc;
    use std::time::Duration;

    use crate::domain::event::{EventKind, StoredEvent};
    use crate::router::Published;
    use crate::sequencer::{CLOSE_SLOW_CONSUMER, Outbound};
    use crate::world::*;

    #[tokio::test(start_paused = true)]
    async fn events_reach_a_client_in_seq_order_and_gaps_are_filled_from_the_log() {
        let world = world(1).await;
        let Follower {
            mut rx,
            closed: _closed,
            stream,
        } = follow(&world, 64).await;
        let subscribed = drain(&mut rx);
        assert!(matches!(&subscribed[..], [Outbound::Subscribed(s)] if s == &vec![(stream, 0)]));

        let events = commit_quietly(&world, 4).await;
        // Published out of order, and seq 3 never published at all.
        for index in [1, 0, 3] {
            world.hub.context().router.publish(&events[index]);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(seqs(&drain(&mut rx)), vec![1, 2], "held 4 until 3 shows up");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(seqs(&drain(&mut rx)), vec![3, 4], "3 read from the log");
        // A late duplicate is dropped.
        world.hub.context().router.publish(&events[2]);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(drain(&mut rx).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_that_never_reaches_the_log_is_skipped_after_ten_seconds() {
        let world = world(1).await;
        let Follower {
            mut rx,
            closed: _closed,
            stream,
        } = follow(&world, 64).await;
        drain(&mut rx);
        // Seq 2 is published; seq 1 was never written (its writer died).
        let orphan = StoredEvent {
            stream,
            seq: 2,
            event: outlet_event(&world, EventKind::ConfigUpdated),
        };
        world
            .hub
            .context()
            .router
            .publish(&Arc::new(Published::new(orphan)));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(seqs(&drain(&mut rx)).is_empty(), "still waiting for seq 1");
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(seqs(&drain(&mut rx)), vec![2], "given up on seq 1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_closes_the_connection_with_4008() {
        let world = world(1).await;
        // A client that never reads: its queue of 8 fills.
        let Follower {
            rx: _never_read,
            closed,
            stream,
        } = follow(&world, 8).await;
        for event in commit_quietly(&world, 20).await {
            world.hub.context().router.publish(&event);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let code = closed.borrow().as_ref().map(|(code, _)| *code);
        assert_eq!(code, Some(CLOSE_SLOW_CONSUMER));
        assert_eq!(
            world.hub.context().router.listener_count(stream),
            0,
            "it stopped listening"
        );
    }
}
