//! The supervisor of session and booth actors. A child that stops is forgotten; a session actor
//! that fails (or is killed) while its booking is live is started again from the store after a
//! short backoff, which re-reads its state and re-arms its timers. Booth actors start again on
//! their next use.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::{error, info};

use crate::hub::{Child, Sessions};
use crate::session::IDLE_STOP_REASON;

const RESTART_BACKOFF: Duration = Duration::from_millis(200);

pub struct Supervisor;

pub enum SupervisorMsg {}

pub struct SupervisorState {
    sessions: Weak<Sessions>,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Weak<Sessions>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        sessions: Weak<Sessions>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState { sessions })
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(sessions) = state.sessions.upgrade() else {
            return Ok(());
        };
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let child = sessions.forget(cell.get_id());
                // A child killed from outside is started again (a session only while its
                // booking is live); one that stopped because its booking is finished stays
                // stopped. Connection actors are not children that restart.
                let stopped_idle = reason.as_deref() == Some(IDLE_STOP_REASON);
                if let Some(child) = child.filter(|_| !stopped_idle) {
                    info!(actor = %cell.get_id(), ?child, "actor stopped; restarting");
                    restart(Arc::clone(&sessions), child);
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                metrics::counter!("boothhub_actor_failures_total").increment(1);
                error!(actor = %cell.get_id(), error = %err, "actor failed; restarting from the store");
                if let Some(child) = sessions.forget(cell.get_id()) {
                    restart(Arc::clone(&sessions), child);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn restart(sessions: Arc<Sessions>, child: Child) {
    if sessions.is_closing() {
        return;
    }
    tokio::spawn(async move {
        let mut backoff = RESTART_BACKOFF;
        loop {
            tokio::time::sleep(backoff).await;
            if sessions.is_closing() {
                return;
            }
            match sessions.restart(child).await {
                Ok(()) => return,
                Err(err) => {
                    error!(?child, error = %err, "restart failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
}
