//! The booth actor: one per booth. It owns what belongs to the device rather than to a
//! booking: how fast it may scan (a booth scanning in a loop meets 429 early) and when it was
//! last heard from.

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::clock::SharedClock;
use crate::domain::ids::BoothId;
use crate::domain::rate::{RateLimit, TokenBucket};

pub enum BoothMsg {
    /// May the booth scan now? `Err(seconds)` says when it may again.
    Scan {
        reply: RpcReplyPort<Result<(), u64>>,
    },
    Snapshot {
        reply: RpcReplyPort<BoothSnapshot>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct BoothSnapshot {
    pub booth_id: BoothId,
    pub scans: u64,
    pub throttled: u64,
    pub last_seen: Option<DateTime<Utc>>,
}

pub struct BoothActor;

pub struct BoothArgs {
    pub booth_id: BoothId,
    pub clock: SharedClock,
    pub scan_limit: RateLimit,
}

pub struct BoothState {
    args: BoothArgs,
    bucket: TokenBucket,
    scans: u64,
    throttled: u64,
    last_seen: Option<DateTime<Utc>>,
}

impl Actor for BoothActor {
    type Msg = BoothMsg;
    type State = BoothState;
    type Arguments = BoothArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<BoothMsg>,
        args: BoothArgs,
    ) -> Result<BoothState, ActorProcessingErr> {
        let bucket = TokenBucket::full(args.scan_limit, args.clock.now());
        Ok(BoothState {
            args,
            bucket,
            scans: 0,
            throttled: 0,
            last_seen: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<BoothMsg>,
        msg: BoothMsg,
        state: &mut BoothState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BoothMsg::Scan { reply } => {
                let _ = reply.send(state.scan());
            }
            BoothMsg::Snapshot { reply } => {
                let _ = reply.send(state.snapshot());
            }
        }
        Ok(())
    }
}

impl BoothState {
    fn scan(&mut self) -> Result<(), u64> {
        let now = self.args.clock.now();
        self.last_seen = Some(now);
        let admitted = self.bucket.take(self.args.scan_limit, now);
        match admitted {
            Ok(()) => self.scans += 1,
            Err(_) => {
                self.throttled += 1;
                metrics::counter!("boothhub_scans_throttled_total").increment(1);
            }
        }
        admitted
    }

    fn snapshot(&self) -> BoothSnapshot {
        BoothSnapshot {
            booth_id: self.args.booth_id,
            scans: self.scans,
            throttled: self.throttled,
            last_seen: self.last_seen,
        }
    }
}
