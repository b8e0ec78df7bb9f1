//! The test world of the actors' tests: real actors on the real embedded store, in a temp
//! dir, on paused Tokio time (time moves only when a test sleeps, so 15-minute deadlines take
//! no wall-clock time), and the helpers those tests share.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, watch};

use crate::clock::TokioClock;
use crate::connection::{ClientRequest, Turn};
use crate::context::HubSettings;
use crate::domain::access::Principal;
use crate::domain::booking::{Customer, NewBooking};
use crate::domain::event::Stream;
use crate::domain::event::{Event, EventKind};
use crate::domain::ids::{BookingId, BoothId, OutletId, UserId};
use crate::domain::records::{Booth, Outlet};
use crate::domain::status::Status;
use crate::hub::Hub;
use crate::router::Published;
use crate::sequencer::Outbound;
use crate::store::embedded::EmbeddedStore;
use crate::store::{Change, Store};

pub(crate) fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .unwrap()
}

pub(crate) struct World {
    pub(crate) hub: Hub,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) outlet: OutletId,
    pub(crate) booths: Vec<Principal>,
    pub(crate) admin: Principal,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn world(booths: usize) -> World {
    world_with(booths, HubSettings::default()).await
}

pub(crate) async fn world_with(booths: usize, settings: HubSettings) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let outlet = Outlet {
        id: OutletId::new(),
        name: "Mall".into(),
        location: String::new(),
        timezone: "Asia/Jakarta".into(),
        price: None,
        active: true,
    };
    store.create_outlet(&outlet, None).await.unwrap();
    let mut principals = vec![];
    for n in 0..booths {
        let booth = Booth {
            id: BoothId::new(),
            outlet_id: outlet.id,
            name: format!("Booth {n}"),
            created_at: base(),
            active: true,
            online: false,
            last_seen_at: None,
        };
        store
            .create_booth(&booth, &format!("hash-{n}"), None)
            .await
            .unwrap();
        principals.push(Principal::Booth {
            booth_id: booth.id,
            outlet_id: outlet.id,
        });
    }
    let hub = start_with(&store, settings).await;
    let admin = Principal::Admin {
        user_id: UserId::new(),
        outlet_id: outlet.id,
    };
    World {
        hub,
        store,
        outlet: outlet.id,
        booths: principals,
        admin,
        _dir: dir,
    }
}

pub(crate) async fn start_with(store: &Arc<dyn Store>, settings: HubSettings) -> Hub {
    let clock = Arc::new(TokioClock::starting_at(base()));
    Hub::start(Arc::clone(store), clock, settings)
        .await
        .unwrap()
}

pub(crate) fn new_booking(world: &World, minutes: i64, paid: bool) -> NewBooking {
    NewBooking {
        user: Customer {
            name: "Sari".into(),
            phone: "0812 3456".into(),
            email: "sari@x.id".into(),
        },
        outlet_id: world.outlet,
        booth_id: None,
        booking_time: base() + chrono::Duration::minutes(minutes),
        amount: Some(50_000),
        paid,
    }
}

pub(crate) async fn status_of(world: &World, id: BookingId) -> Status {
    world.store.booking(id).await.unwrap().unwrap().status
}

pub(crate) fn outlet_event(world: &World, kind: EventKind) -> Event {
    Event {
        event: kind,
        booking_id: None,
        booth_id: None,
        outlet_id: Some(world.outlet),
        status: None,
        at: base(),
        data: serde_json::Value::Null,
    }
}

/// Commits events on the outlet stream without publishing them; returns them placed.
pub(crate) async fn commit_quietly(world: &World, count: usize) -> Vec<Arc<Published>> {
    let events = (0..count)
        .map(|_| outlet_event(world, EventKind::ConfigUpdated))
        .collect();
    let stored = world
        .store
        .commit(Change {
            events,
            ..Change::default()
        })
        .await
        .unwrap();
    stored
        .into_iter()
        .map(|event| Arc::new(Published::new(event)))
        .collect()
}

pub(crate) fn seqs(received: &[Outbound]) -> Vec<u64> {
    received
        .iter()
        .filter_map(|o| match o {
            Outbound::Event { event, .. } => Some(event.event.seq),
            _ => None,
        })
        .collect()
}

/// The outlet admin's connection, subscribed to the outlet stream: its outbound queue
/// (of `capacity`), its close signal and the stream's name.
pub(crate) struct Follower {
    pub(crate) rx: mpsc::Receiver<Outbound>,
    pub(crate) closed: watch::Receiver<Option<(u16, String)>>,
    pub(crate) stream: Stream,
}

pub(crate) async fn follow(world: &World, capacity: usize) -> Follower {
    let (tx, rx) = mpsc::channel(capacity);
    let (close, closed) = watch::channel(None);
    let conn = world.hub.connect(world.admin, tx, close).await.unwrap();
    let stream = Stream::Outlet(world.outlet);
    conn.request(
        ClientRequest::Subscribe {
            streams: vec![stream.to_string()],
            resume: HashMap::new(),
        },
        Turn::default(),
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    Follower { rx, closed, stream }
}

pub(crate) fn drain(rx: &mut mpsc::Receiver<Outbound>) -> Vec<Outbound> {
    let mut received = vec![];
    while let Ok(item) = rx.try_recv() {
        received.push(item);
    }
    received
}
