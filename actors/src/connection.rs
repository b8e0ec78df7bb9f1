//! The connection actor: one per WebSocket client. It owns the client's subscriptions: checks
//! them, registers its [`Sequencer`] with the router, settles where each stream starts (its
//! head, or a replay from the log on resume) and fills gaps from the log. Live events do not
//! pass through it: the router hands them to the sequencer directly. Knows no socket and no
//! wire format.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::booth::BoothMsg;
use crate::domain::access::Principal;
use crate::domain::event::Stream;
use crate::hub::HubContext;
use crate::registry::{Listener, ListenerId, Published, StreamRouter};
pub use crate::sequencer::CLOSE_SLOW_CONSUMER;
use crate::sequencer::Sequencer;

/// How many events a replay reads at a time.
const REPLAY_PAGE: u32 = 500;

/// What the socket's writer sends, in order.
#[derive(Debug)]
pub enum Outbound {
    Subscribed(Vec<(String, u64)>),
    Event {
        event: Arc<Published>,
        redelivery: bool,
    },
    Error {
        code: &'static str,
        message: String,
    },
}

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
    /// The booth actor sends an unacked event again.
    Redeliver(Arc<Published>),
    /// Time to fill a gap from the log if it is still open.
    GapCheck(String),
    /// The socket closed, or the client is closed for not keeping up.
    Closed,
}

pub struct ConnectionArgs {
    pub ctx: Arc<HubContext>,
    pub principal: Principal,
    pub outbound: mpsc::Sender<Outbound>,
    pub close: watch::Sender<Option<(u16, String)>>,
    /// The booth actor, for a booth's connection.
    pub booth: Option<ActorRef<BoothMsg>>,
    /// Streams the client may hold subscribed at once.
    pub max_streams: usize,
}

pub struct ConnectionState {
    args: ConnectionArgs,
    sequencer: Arc<Sequencer>,
    /// Subscribed stream → its registration with the router.
    listeners: HashMap<String, ListenerId>,
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
                let _ = booth.cast(BoothMsg::Connected {
                    conn: myself.clone(),
                });
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
            let _ = booth.cast(BoothMsg::Disconnected {
                conn: myself.get_id(),
            });
        }
        Ok(())
    }

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
                    ClientRequest::Unsubscribe { streams } => state.unsubscribe(&streams),
                    ClientRequest::Ack { stream, seq } => state.ack(&stream, seq),
                }
                drop(turn);
            }
            ConnMsg::Redeliver(event) => {
                metrics::counter!("boothhub_events_redelivered_total").increment(1);
                state.sequencer.redeliver(event);
            }
            ConnMsg::GapCheck(stream) => state.fill_gap(&stream).await,
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

    fn refuse(&self, code: &'static str, message: String) {
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
                self.refuse("BAD_STREAM", message);
                continue;
            };
            // The cap is checked first: a refused stream costs no store read.
            let is_new = !self.listeners.contains_key(&stream.to_string());
            if is_new && self.listeners.len() >= self.args.max_streams {
                over_cap += 1;
                continue;
            }
            if !self.may_subscribe(stream).await {
                self.refuse("FORBIDDEN", format!("you may not subscribe to {name}"));
                continue;
            }
            let name = stream.to_string();
            // Live events wait in the sequencer from the moment it listens until the start
            // is settled, so none falls between the head read and the first live one.
            self.sequencer.hold_from(&name, 0);
            if !self.listeners.contains_key(&name) {
                let listener = self
                    .router()
                    .listen(&name, Listener::Connection(Arc::clone(&self.sequencer)));
                self.listeners.insert(name.clone(), listener);
            }
            let head = match self.args.ctx.store.stream_head(&name).await {
                Ok(head) => head,
                Err(err) => {
                    self.unsubscribe(std::slice::from_ref(&name));
                    self.refuse("UNAVAILABLE", err.to_string());
                    continue;
                }
            };
            let from = resume.get(&name).map_or(head, |seq| (*seq).min(head));
            self.sequencer.hold_from(&name, from + 1);
            if from < head {
                replays.push(name.clone());
            } else {
                self.sequencer.go_live(&name);
            }
            subscribed.push((name, head));
        }
        if over_cap > 0 {
            metrics::counter!("boothhub_ws_streams_refused_total").increment(over_cap);
            let max = self.args.max_streams;
            self.refuse(
                "TOO_MANY_STREAMS",
                format!("{over_cap} stream(s) refused: a connection holds at most {max} streams"),
            );
        }
        if !subscribed.is_empty() {
            self.sequencer.send(Outbound::Subscribed(subscribed));
        }
        for stream in replays {
            self.replay(&stream).await;
        }
    }

    /// Sends every logged event from the stream's `next` on, then whatever came live meanwhile.
    async fn replay(&mut self, stream: &str) {
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
                    self.refuse("UNAVAILABLE", err.to_string());
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

    fn unsubscribe(&mut self, streams: &[String]) {
        for name in streams {
            if let Some(listener) = self.listeners.remove(name) {
                self.args.ctx.router.unlisten(name, listener);
            }
            self.sequencer.remove(name);
        }
    }

    fn unsubscribe_all(&mut self) {
        let names: Vec<String> = self.listeners.keys().cloned().collect();
        self.unsubscribe(&names);
    }

    fn ack(&self, stream: &str, seq: u64) {
        let own = match self.args.principal {
            Principal::Booth { booth_id, .. } => Stream::Booth(booth_id).to_string() == stream,
            _ => false,
        };
        if let (true, Some(booth)) = (own, &self.args.booth) {
            let _ = booth.cast(BoothMsg::Ack { seq });
        }
    }

    /// Reads from the log the events a held one is waiting for; the sequencer sends them and
    /// decides whether to check again.
    async fn fill_gap(&mut self, stream: &str) {
        let mut events = vec![];
        if let Some(gap) = self.sequencer.gap(stream) {
            // A page at a time: the rest of a long gap is read at the next check.
            let missing = u32::try_from(gap.first_held - gap.next)
                .unwrap_or(u32::MAX)
                .min(REPLAY_PAGE);
            metrics::counter!("boothhub_ws_gaps_filled_total").increment(1);
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
