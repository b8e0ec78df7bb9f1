//! The connection actor: one per WebSocket client. It owns the client's subscriptions, puts
//! every stream's events in `seq` order with no gap and no duplicate (holding early ones,
//! fetching missing ones from the log), replays from the log on resume, and feeds a bounded
//! queue that the socket's writer drains. A full queue closes the connection with 4008: a slow
//! client never slows the actors or other clients. Knows no socket and no wire format.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::booth::BoothMsg;
use crate::domain::access::Principal;
use crate::domain::event::Stream;
use crate::hub::HubContext;
use crate::registry::{Listener, ListenerId, Published, StreamRouter};

/// How long an early event waits for the ones before it before they are read from the log.
const GAP_WAIT: Duration = Duration::from_millis(200);
/// Gap checks before a gap is given up on (a writer died between its seq and its write).
const GAP_GIVE_UP: u32 = 50;
/// How many events a replay reads at a time.
const REPLAY_PAGE: u32 = 500;
/// How long a replay waits for room in the queue before the client counts as stalled.
const REPLAY_STALL: Duration = Duration::from_secs(10);

/// Close code for a client that does not keep up (contract §7).
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;

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

pub enum ConnMsg {
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
    /// A live event of a subscribed stream.
    Deliver(Arc<Published>),
    /// The booth actor sends an unacked event again.
    Redeliver(Arc<Published>),
    /// Time to fill a gap from the log if it is still open.
    GapCheck(String),
    /// The socket closed.
    Closed,
}

pub struct ConnectionArgs {
    pub ctx: Arc<HubContext>,
    pub principal: Principal,
    pub outbound: mpsc::Sender<Outbound>,
    pub close: watch::Sender<Option<(u16, String)>>,
    /// The booth actor, for a booth's connection.
    pub booth: Option<ActorRef<BoothMsg>>,
}

struct Subscription {
    listener: ListenerId,
    /// The next seq the client is owed.
    next: u64,
    /// Events that arrived before the ones they follow.
    held: BTreeMap<u64, Arc<Published>>,
    gap_check_armed: bool,
    /// Gap checks in a row that found the missing events not yet in the log.
    gap_checks: u32,
}

pub struct ConnectionState {
    args: ConnectionArgs,
    subscriptions: HashMap<String, Subscription>,
    closing: bool,
}

pub struct ConnectionActor;

impl Actor for ConnectionActor {
    type Msg = ConnMsg;
    type State = ConnectionState;
    type Arguments = ConnectionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ConnMsg>,
        args: ConnectionArgs,
    ) -> Result<ConnectionState, ActorProcessingErr> {
        Ok(ConnectionState {
            args,
            subscriptions: HashMap::new(),
            closing: false,
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
            state.subscribe(&myself, vec![own], HashMap::new()).await;
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
            ConnMsg::Subscribe { streams, resume } => {
                state.subscribe(&myself, streams, resume).await
            }
            ConnMsg::Unsubscribe { streams } => state.unsubscribe(&streams),
            ConnMsg::Ack { stream, seq } => state.ack(&stream, seq),
            ConnMsg::Deliver(event) => state.deliver(&myself, event),
            ConnMsg::Redeliver(event) => {
                metrics::counter!("boothhub_events_redelivered_total").increment(1);
                state.push(Outbound::Event {
                    event,
                    redelivery: true,
                });
            }
            ConnMsg::GapCheck(stream) => state.fill_gap(&myself, &stream).await,
            ConnMsg::Closed => state.closing = true,
        }
        if state.closing {
            myself.stop(None);
        }
        Ok(())
    }
}

impl ConnectionState {
    fn router(&self) -> &StreamRouter {
        &self.args.ctx.router
    }

    /// Queues a message for the socket; a full queue closes the connection with 4008.
    fn push(&mut self, message: Outbound) -> bool {
        if self.closing {
            return false;
        }
        let is_event = matches!(message, Outbound::Event { .. });
        match self.args.outbound.try_send(message) {
            Ok(()) => {
                if is_event {
                    metrics::counter!("boothhub_events_delivered_total").increment(1);
                }
                let depth = self.args.outbound.max_capacity() - self.args.outbound.capacity();
                metrics::histogram!("boothhub_ws_queue_depth").record(depth as f64);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(
                    CLOSE_SLOW_CONSUMER,
                    "slow consumer: resume from your last seq",
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.closing = true;
                false
            }
        }
    }

    /// Queues a replayed event, waiting a while for room (a replay may be long).
    async fn push_replay(&mut self, event: Arc<Published>) -> bool {
        if self.closing {
            return false;
        }
        let sent = tokio::time::timeout(
            REPLAY_STALL,
            self.args.outbound.send(Outbound::Event {
                event,
                redelivery: false,
            }),
        )
        .await;
        match sent {
            Ok(Ok(())) => {
                metrics::counter!("boothhub_events_delivered_total").increment(1);
                true
            }
            Ok(Err(_)) => {
                self.closing = true;
                false
            }
            Err(_) => {
                self.close(
                    CLOSE_SLOW_CONSUMER,
                    "slow consumer: resume from your last seq",
                );
                false
            }
        }
    }

    fn close(&mut self, code: u16, reason: &str) {
        if !self.closing {
            debug!(code, reason, "closing connection");
            metrics::counter!("boothhub_ws_closed_slow_total").increment(1);
            self.closing = true;
            self.unsubscribe_all();
            let _ = self.args.close.send(Some((code, reason.to_owned())));
        }
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

    async fn subscribe(
        &mut self,
        myself: &ActorRef<ConnMsg>,
        streams: Vec<String>,
        resume: HashMap<String, u64>,
    ) {
        let mut subscribed = vec![];
        let mut replays = vec![];
        for name in streams {
            let Ok(stream) = name.parse::<Stream>() else {
                let message =
                    format!("{name:?} is not a stream: use booth:<id>, outlet:<id> or all");
                self.push(Outbound::Error {
                    code: "BAD_STREAM",
                    message,
                });
                continue;
            };
            if !self.may_subscribe(stream).await {
                let message = format!("you may not subscribe to {name}");
                self.push(Outbound::Error {
                    code: "FORBIDDEN",
                    message,
                });
                continue;
            }
            let name = stream.to_string();
            if !self.subscriptions.contains_key(&name) {
                let listener = self
                    .router()
                    .listen(&name, Listener::Connection(myself.clone()));
                let subscription = Subscription {
                    listener,
                    next: 0,
                    held: BTreeMap::new(),
                    gap_check_armed: false,
                    gap_checks: 0,
                };
                self.subscriptions.insert(name.clone(), subscription);
            }
            let head = match self.args.ctx.store.stream_head(&name).await {
                Ok(head) => head,
                Err(err) => {
                    self.push(Outbound::Error {
                        code: "UNAVAILABLE",
                        message: err.to_string(),
                    });
                    continue;
                }
            };
            let from = resume.get(&name).map_or(head, |seq| (*seq).min(head));
            if let Some(subscription) = self.subscriptions.get_mut(&name) {
                subscription.next = from + 1;
            }
            if from < head {
                replays.push(name.clone());
            }
            subscribed.push((name, head));
        }
        if !subscribed.is_empty() {
            self.push(Outbound::Subscribed(subscribed));
        }
        for stream in replays {
            self.replay(&stream).await;
        }
    }

    /// Sends every logged event from the stream's `next` on, then whatever came live meanwhile.
    async fn replay(&mut self, stream: &str) {
        loop {
            let Some(next) = self.subscriptions.get(stream).map(|s| s.next) else {
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
                    self.push(Outbound::Error {
                        code: "UNAVAILABLE",
                        message: err.to_string(),
                    });
                    return;
                }
            };
            let full = page.len() == REPLAY_PAGE as usize;
            for event in page {
                let seq = event.seq;
                let published = Arc::new(Published::new(event));
                if !self.push_replay(published).await {
                    return;
                }
                if let Some(subscription) = self.subscriptions.get_mut(stream) {
                    subscription.next = seq + 1;
                }
            }
            if !full {
                break;
            }
        }
        self.release_held(stream);
    }

    fn unsubscribe(&mut self, streams: &[String]) {
        for name in streams {
            if let Some(subscription) = self.subscriptions.remove(name) {
                self.args.ctx.router.unlisten(name, subscription.listener);
            }
        }
    }

    fn unsubscribe_all(&mut self) {
        let names: Vec<String> = self.subscriptions.keys().cloned().collect();
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

    /// Puts a live event in order: sends it if it is the next one, holds it if it is early,
    /// drops it if it was already sent.
    fn deliver(&mut self, myself: &ActorRef<ConnMsg>, event: Arc<Published>) {
        let stream = event.event.stream.clone();
        let Some(subscription) = self.subscriptions.get_mut(&stream) else {
            return;
        };
        let seq = event.event.seq;
        if seq < subscription.next {
            return;
        }
        if seq > subscription.next {
            subscription.held.insert(seq, event);
            if !subscription.gap_check_armed {
                subscription.gap_check_armed = true;
                drop(myself.send_after(GAP_WAIT, move || ConnMsg::GapCheck(stream)));
            }
            return;
        }
        subscription.next = seq + 1;
        if self.push(Outbound::Event {
            event,
            redelivery: false,
        }) {
            self.release_held(&stream);
        }
    }

    /// Sends held events that are now next in line.
    fn release_held(&mut self, stream: &str) {
        loop {
            let Some(subscription) = self.subscriptions.get_mut(stream) else {
                return;
            };
            let stale: Vec<u64> = subscription
                .held
                .range(..subscription.next)
                .map(|(s, _)| *s)
                .collect();
            for seq in stale {
                subscription.held.remove(&seq);
            }
            let Some(event) = subscription.held.remove(&subscription.next) else {
                return;
            };
            subscription.next += 1;
            if !self.push(Outbound::Event {
                event,
                redelivery: false,
            }) {
                return;
            }
        }
    }

    /// Reads from the log the events a held one is waiting for. A writer may have its seq and
    /// not yet its batch written: the check comes again until the gap closes, and a gap that
    /// stays open for `GAP_GIVE_UP` checks (a writer died between the two) is skipped.
    async fn fill_gap(&mut self, myself: &ActorRef<ConnMsg>, stream: &str) {
        let Some(subscription) = self.subscriptions.get_mut(stream) else {
            return;
        };
        subscription.gap_check_armed = false;
        let Some(first_held) = subscription.held.keys().next().copied() else {
            return;
        };
        let next = subscription.next;
        if first_held > next {
            let missing = u32::try_from(first_held - next).unwrap_or(u32::MAX);
            metrics::counter!("boothhub_ws_gaps_filled_total").increment(1);
            if let Ok(events) = self
                .args
                .ctx
                .store
                .events_after(stream, next - 1, missing)
                .await
            {
                for event in events {
                    let seq = event.seq;
                    let Some(subscription) = self.subscriptions.get_mut(stream) else {
                        return;
                    };
                    if seq != subscription.next {
                        break;
                    }
                    subscription.next = seq + 1;
                    let published = Arc::new(Published::new(event));
                    if !self.push(Outbound::Event {
                        event: published,
                        redelivery: false,
                    }) {
                        return;
                    }
                }
            }
        }
        self.release_held(stream);
        let Some(subscription) = self.subscriptions.get_mut(stream) else {
            return;
        };
        let Some(first_held) = subscription.held.keys().next().copied() else {
            subscription.gap_checks = 0;
            return;
        };
        subscription.gap_checks += 1;
        if subscription.gap_checks >= GAP_GIVE_UP {
            warn!(
                stream,
                missing_from = subscription.next,
                until = first_held,
                "skipping seqs that never reached the log"
            );
            metrics::counter!("boothhub_ws_gaps_skipped_total").increment(1);
            subscription.next = first_held;
            subscription.gap_checks = 0;
            self.release_held(stream);
        } else {
            subscription.gap_check_armed = true;
            let stream = stream.to_owned();
            drop(myself.send_after(GAP_WAIT, move || ConnMsg::GapCheck(stream)));
        }
    }
}
