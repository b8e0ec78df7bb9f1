//! The supervisor: the tables of session and booth actors ([`Children`]) and the actor that
//! supervises them. A child that stops is forgotten; a session actor that fails (or is
//! killed) while its booking is live is started again from the store after a short backoff,
//! which re-reads its state and re-arms its timers; a booth actor is started again too. A
//! restart is a message the supervisor sends itself (and again, with a longer backoff, while
//! it fails), so restarts stop with the supervisor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;
use tracing::{error, info};

use crate::booth::{BoothActor, BoothArgs, BoothMsg};
use crate::context::{HubContext, HubSettings};
use crate::domain::booking::Booking;
use crate::domain::ids::{BookingId, BoothId};
use crate::domain::rate::RateLimit;
use crate::error::HubError;
use crate::metrics::{ACTOR_FAILURES, SESSION_ACTORS};
use crate::ownership::Owner;
use crate::registry::ActorTable;
use crate::session::{
    IDLE_STOP_REASON, LEASE_LOST_REASON, SessionActor, SessionArgs, SessionEnvelope, SessionRef,
};

const RESTART_BACKOFF: Duration = Duration::from_millis(200);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(10);
/// How long the actors of a shard given up get to finish the message at hand (a commit): a
/// node that leaves must still exit within 15 s of SIGTERM (contract §8).
const SHARD_STOP_WAIT: Duration = Duration::from_secs(2);

/// What a stopped actor owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    Session(BookingId),
    Booth(BoothId),
}

/// The session and booth actors, started on demand under the supervisor, which owns this.
#[derive(Debug)]
pub struct Children {
    ctx: Arc<HubContext>,
    sessions: ActorTable<BookingId, SessionEnvelope>,
    booths: ActorTable<BoothId, BoothMsg>,
    /// The supervisor every child is linked to (a handle: the supervisor owns `Children`).
    supervisor: ActorCell,
    scan_limit: RateLimit,
    retry_base: Duration,
    max_unacked: usize,
    closing: AtomicBool,
}

impl Children {
    /// Whether the hub is shutting down (stopped actors are not restarted then).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The session actor of `id`, if one runs.
    pub fn running(&self, id: BookingId) -> Option<SessionRef> {
        self.sessions.get(&id)
    }

    /// From now on, stopped children are not started again.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// The supervisor, to link an actor that is not one of these children (a connection).
    pub fn supervisor(&self) -> ActorCell {
        self.supervisor.clone()
    }

    pub fn context(&self) -> &Arc<HubContext> {
        &self.ctx
    }

    /// Every running session actor.
    pub fn session_actors(&self) -> Vec<SessionRef> {
        self.sessions.actors()
    }

    /// The fencing token this node acts for `id` under, when it does (contract §8).
    fn fence(&self, id: BookingId) -> Result<Option<i64>, HubError> {
        match self.ctx.ownership.owner(id) {
            Owner::Here { fence } => Ok(fence),
            Owner::There { address, .. } => Err(HubError::Elsewhere { address }),
            Owner::Nobody => Err(HubError::Unavailable(
                "the node that acts for this booking is being chosen".into(),
            )),
        }
    }

    async fn spawn(&self, booking: Booking, fence: Option<i64>) -> Result<SessionRef, HubError> {
        let args = SessionArgs {
            ctx: Arc::clone(&self.ctx),
            booking,
            fence,
        };
        let (actor, _) = Actor::spawn_linked(None, SessionActor, args, self.supervisor())
            .await
            .map_err(|e| HubError::Unavailable(format!("cannot start a session actor: {e}")))?;
        metrics::gauge!(SESSION_ACTORS).increment(1.0);
        Ok(actor)
    }

    /// The session actor of `id`, started from the store when there is none. In a cluster,
    /// only on the node that holds the booking's lease: elsewhere the answer says which node
    /// does.
    pub async fn session(&self, id: BookingId) -> Result<SessionRef, HubError> {
        let fence = self.fence(id)?;
        self.sessions
            .get_or_start(id, || async {
                let booking = self
                    .ctx
                    .store
                    .booking(id)
                    .await?
                    .ok_or(HubError::NotFound("booking"))?;
                self.spawn(booking, fence).await
            })
            .await
    }

    /// Starts the actor of a booking just read or written (only where it may act: see
    /// [`Children::session`]).
    pub async fn start(&self, booking: Booking) -> Result<SessionRef, HubError> {
        let fence = self.fence(booking.id)?;
        self.sessions
            .get_or_start(booking.id, || self.spawn(booking.clone(), fence))
            .await
    }

    /// Stops the session actors of the bookings in `shard` (this node no longer acts for
    /// them) and waits for them; they are not started again here.
    pub async fn stop_shard(&self, shard: u32) -> usize {
        let actors = self
            .sessions
            .actors_where(|booking| crate::ownership::shard_of(*booking) == shard);
        let stopping = actors.iter().map(|actor| {
            actor.stop_and_wait(Some(LEASE_LOST_REASON.into()), Some(SHARD_STOP_WAIT))
        });
        futures::future::join_all(stopping).await;
        actors.len()
    }

    /// Starts a failed booking's actor again from the store, if the booking is still live
    /// and this node still acts for it.
    pub async fn revive(&self, id: BookingId) -> Result<(), HubError> {
        if !matches!(self.ctx.ownership.owner(id), Owner::Here { .. }) {
            return Ok(());
        }
        match self.ctx.store.booking(id).await? {
            Some(booking) if booking.status.is_live() => self.start(booking).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The booth actor of `id`, started when there is none.
    pub async fn booth(&self, id: BoothId) -> Result<ActorRef<BoothMsg>, HubError> {
        self.booths
            .get_or_start(id, || async {
                let booth = self
                    .ctx
                    .store
                    .booth(id)
                    .await?
                    .ok_or(HubError::NotFound("booth"))?;
                let args = BoothArgs {
                    booth_id: id,
                    outlet_id: booth.outlet_id,
                    ctx: Arc::clone(&self.ctx),
                    scan_limit: self.scan_limit,
                    retry_base: self.retry_base,
                    max_unacked: self.max_unacked,
                };
                let (actor, _) = Actor::spawn_linked(None, BoothActor, args, self.supervisor())
                    .await
                    .map_err(|e| {
                        HubError::Unavailable(format!("cannot start a booth actor: {e}"))
                    })?;
                Ok::<_, HubError>(actor)
            })
            .await
    }

    /// Forgets a stopped actor of either kind; says what it owned.
    pub fn forget(&self, actor: ActorId) -> Option<Child> {
        if let Some(booth) = self.booths.forget(actor) {
            return Some(Child::Booth(booth));
        }
        let booking = self.sessions.forget(actor)?;
        metrics::gauge!(SESSION_ACTORS).decrement(1.0);
        Some(Child::Session(booking))
    }

    /// Starts a stopped child again: a live booking's session, or a booth.
    pub async fn restart(&self, child: Child) -> Result<(), HubError> {
        match child {
            Child::Session(booking) => self.revive(booking).await,
            Child::Booth(booth) => self.booth(booth).await.map(|_| ()),
        }
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

/// Starts the supervisor; answers it and the tables of its children.
pub async fn start(
    ctx: Arc<HubContext>,
    settings: &HubSettings,
) -> Result<(ActorRef<SupervisorMsg>, Arc<Children>), HubError> {
    let (tx, rx) = oneshot::channel();
    let args = SupervisorArgs {
        ctx,
        scan_limit: settings.scan_limit,
        retry_base: settings.retry_base,
        max_unacked: settings.max_unacked,
        children: tx,
    };
    let (supervisor, _) = Actor::spawn(None, Supervisor, args)
        .await
        .map_err(|e| HubError::Unavailable(format!("cannot start the supervisor: {e}")))?;
    let children = rx
        .await
        .map_err(|_| HubError::Unavailable("the supervisor did not start".into()))?;
    Ok((supervisor, children))
}

pub struct Supervisor;

pub enum SupervisorMsg {
    /// Start `child` again (after `backoff`, which doubles while it fails).
    Restart { child: Child, backoff: Duration },
}

pub struct SupervisorArgs {
    ctx: Arc<HubContext>,
    scan_limit: RateLimit,
    retry_base: Duration,
    max_unacked: usize,
    /// Where the tables go once the supervisor stands.
    children: oneshot::Sender<Arc<Children>>,
}

pub struct SupervisorState {
    children: Arc<Children>,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let children = Arc::new(Children {
            ctx: args.ctx,
            sessions: ActorTable::default(),
            booths: ActorTable::default(),
            supervisor: myself.get_cell(),
            scan_limit: args.scan_limit,
            retry_base: args.retry_base,
            max_unacked: args.max_unacked,
            closing: AtomicBool::new(false),
        });
        let _ = args.children.send(Arc::clone(&children));
        Ok(SupervisorState { children })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Restart { child, backoff } = msg;
        if state.children.is_closing() {
            return Ok(());
        }
        if let Err(err) = state.children.restart(child).await {
            error!(?child, error = %err, "restart failed; retrying");
            let backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
            schedule_restart(&myself, child, backoff);
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let children = &state.children;
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let child = children.forget(cell.get_id());
                // A child killed from outside is started again (a session only while its
                // booking is live); one that stopped because its booking is finished stays
                // stopped. Connection actors are not children that restart.
                let stopped_idle = reason.as_deref() == Some(IDLE_STOP_REASON)
                    || reason.as_deref() == Some(LEASE_LOST_REASON);
                if let Some(child) = child.filter(|_| !stopped_idle && !children.is_closing()) {
                    info!(actor = %cell.get_id(), ?child, "actor stopped; restarting");
                    schedule_restart(&myself, child, RESTART_BACKOFF);
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                metrics::counter!(ACTOR_FAILURES).increment(1);
                error!(actor = %cell.get_id(), error = %err, "actor failed; restarting from the store");
                if let Some(child) = children
                    .forget(cell.get_id())
                    .filter(|_| !children.is_closing())
                {
                    schedule_restart(&myself, child, RESTART_BACKOFF);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn schedule_restart(supervisor: &ActorRef<SupervisorMsg>, child: Child, backoff: Duration) {
    drop(supervisor.send_after(backoff, move || SupervisorMsg::Restart { child, backoff }));
}

#[cfg(test)]
mod tests {
    //! Restarts in the test world.

    use std::time::Duration;

    use crate::domain::status::Status;
    use crate::world::*;

    #[tokio::test(start_paused = true)]
    async fn a_killed_session_actor_is_restarted_from_the_store_with_its_timer() {
        let world = world(1).await;
        let booking = world
            .hub
            .create_booking(Some(&world.admin), new_booking(&world, 0, false))
            .await
            .unwrap();
        let first = world.hub.children().running(booking.id).unwrap();
        first.kill();
        let mut restarted = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            restarted = world
                .hub
                .children()
                .running(booking.id)
                .filter(|a| a.get_id() != first.get_id());
            if restarted.is_some() {
                break;
            }
        }
        assert!(
            restarted.is_some(),
            "the supervisor did not restart the session actor"
        );
        tokio::time::sleep(Duration::from_secs(16 * 60)).await;
        assert_eq!(
            status_of(&world, booking.id).await,
            Status::Expired,
            "the restarted actor re-armed its timer"
        );
    }
}
