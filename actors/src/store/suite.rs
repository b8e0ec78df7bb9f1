//! The store's contract, as one suite of checks over `Arc<dyn Store>`, run on every backend.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::domain::booking::{Customer, NewBooking, Slot};
use crate::domain::event::{EventKind, Stream};
use crate::domain::ids::{AuditId, BoothId, OutletId, PaymentId, UserId};
use crate::domain::payment::{PaymentNotice, PaymentOutcome, PaymentStatus};
use crate::domain::records::{AuditEntry, AuditKind, AuditTarget, Booth, Outlet, Role, User};

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .unwrap()
        + Duration::minutes(minutes)
}

fn booking(
    outlet: OutletId,
    booth: Option<BoothId>,
    minutes: i64,
) -> (Booking, Vec<crate::domain::event::Event>) {
    let new = NewBooking {
        user: Customer {
            name: "Sari".into(),
            phone: "081234".into(),
            email: "s@x.id".into(),
        },
        outlet_id: outlet,
        booth_id: booth,
        booking_time: t(minutes),
        amount: Some(10_000),
        paid: false,
    };
    new.into_booking(
        BookingId::new(),
        "qr".into(),
        t(-60),
        &SystemConfig::default(),
        10_000,
    )
}

fn claim(b: &Booking, capacity: u64) -> SlotClaim {
    SlotClaim {
        outlet_id: b.outlet_id,
        booth_id: b.booth_id,
        slot: Slot::of(b.booking_time, Duration::minutes(15)),
        duration: Duration::minutes(15),
        capacity,
    }
}

async fn create(
    store: &Arc<dyn Store>,
    b: &Booking,
    events: Vec<crate::domain::event::Event>,
    capacity: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    store
        .commit(Change {
            booking: Some(BookingWrite::Create(b.clone(), claim(b, capacity))),
            events,
            ..Change::default()
        })
        .await
}

pub async fn seqs_are_gapless_per_stream(store: Arc<dyn Store>) {
    let outlet = OutletId::new();
    let booth = BoothId::new();
    let mut placed = vec![];
    for n in 0..5 {
        let (b, events) = booking(outlet, Some(booth), n * 15);
        placed.extend(create(&store, &b, events, 1).await.unwrap());
    }
    let booth_stream = Stream::Booth(booth);
    let seqs: Vec<u64> = placed
        .iter()
        .filter(|e| e.stream == booth_stream)
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let replay = store.events_after(booth_stream, 2, 100).await.unwrap();
    assert_eq!(
        replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(
        replay
            .iter()
            .all(|e| e.event.event == EventKind::BookingCreated)
    );
    assert_eq!(
        store.events_after(booth_stream, 5, 100).await.unwrap(),
        vec![]
    );
    let all = store.events_after(Stream::All, 0, 2).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2],
        "limit is honoured"
    );
}

pub async fn a_bookings_events_are_its_history(store: Arc<dyn Store>) {
    let outlet = OutletId::new();
    let (first, events) = booking(outlet, None, 0);
    let created = events.clone();
    create(&store, &first, events, 5).await.unwrap();
    let (second, events) = booking(outlet, None, 15);
    create(&store, &second, events, 5).await.unwrap();
    let mut paid = created[0].clone();
    paid.event = EventKind::PaymentConfirmed;
    store
        .commit(Change {
            events: vec![paid],
            ..Change::default()
        })
        .await
        .unwrap();
    let history = store.booking_events(first.id).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.event.event).collect::<Vec<_>>(),
        vec![EventKind::BookingCreated, EventKind::PaymentConfirmed]
    );
    assert!(history.iter().all(|e| e.stream == Stream::All));
    assert!(
        history[0].seq < history[1].seq,
        "in the order they happened"
    );
    assert_eq!(store.booking_events(second.id).await.unwrap().len(), 1);
    assert!(
        store
            .booking_events(BookingId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Many writers at once (the embedded store commits them in groups): a refused change fails
/// alone, the others land, and every stream stays gapless.
pub async fn concurrent_commits_stay_atomic_and_gapless(store: Arc<dyn Store>) {
    let outlet = OutletId::new();
    let booth = BoothId::new();
    let mut writers = vec![];
    for n in 0..20 {
        // Ten bookings contend for one slot of one booth; ten have slots of their own.
        let minutes = if n % 2 == 0 { 0 } else { 30 * n };
        let (b, events) = booking(outlet, Some(booth), minutes);
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(
            async move { create(&store, &b, events, 1).await },
        ));
    }
    let mut placed = vec![];
    let mut taken = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(events) => placed.extend(events),
            Err(StoreError::SlotTaken) => taken += 1,
            Err(err) => panic!("unexpected {err}"),
        }
    }
    assert_eq!(taken, 9, "one of the ten contenders got the slot");
    let mut seqs: Vec<u64> = placed
        .iter()
        .filter(|e| e.stream == Stream::Booth(booth))
        .map(|e| e.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    let logged = store
        .events_after(Stream::Booth(booth), 0, 100)
        .await
        .unwrap();
    assert_eq!(logged.len(), 11, "only what was answered is in the log");
    assert_eq!(store.live_bookings().await.unwrap().len(), 11);
}

pub async fn slot_claims_are_atomic(store: Arc<dyn Store>) {
    let outlet = OutletId::new();
    let booth = BoothId::new();
    let (first, events) = booking(outlet, Some(booth), 0);
    create(&store, &first, events, 1).await.unwrap();
    let (clash, events) = booking(outlet, Some(booth), 14);
    assert!(matches!(
        create(&store, &clash, events, 1).await,
        Err(StoreError::SlotTaken)
    ));
    let (next, events) = booking(outlet, Some(booth), 15);
    create(&store, &next, events, 1).await.unwrap();
    // Outlet-wide: capacity 2 admits a second overlapping booking, not a third.
    let (a, events) = booking(outlet, None, 100);
    create(&store, &a, events, 2).await.unwrap();
    let (b, events) = booking(outlet, None, 105);
    create(&store, &b, events, 2).await.unwrap();
    let (c, events) = booking(outlet, None, 110);
    assert!(matches!(
        create(&store, &c, events, 2).await,
        Err(StoreError::SlotTaken)
    ));
    // A booking that is no longer live frees its slot.
    let mut done = first.clone();
    done.status = crate::domain::status::Status::Overridden;
    done.version += 1;
    store
        .commit(Change {
            booking: Some(BookingWrite::Update(done)),
            ..Change::default()
        })
        .await
        .unwrap();
    let (again, events) = booking(outlet, Some(booth), -14);
    create(&store, &again, events, 1).await.unwrap();
    assert_eq!(store.live_bookings().await.unwrap().len(), 4);
}

pub async fn a_payment_event_id_is_stored_once(store: Arc<dyn Store>) {
    let notice = PaymentNotice {
        event_id: "evt-1".into(),
        booking_id: BookingId::new(),
        status: PaymentStatus::Success,
        amount: 1,
        currency: "IDR".into(),
        paid_at: None,
        raw: "{\"x\":1}".into(),
        body_hash: "h".into(),
    };
    let payment = Payment::record(&notice, None, PaymentOutcome::UnknownBooking, t(0));
    store
        .commit(Change {
            payment: Some(payment.clone()),
            ..Change::default()
        })
        .await
        .unwrap();
    let again = store
        .commit(Change {
            payment: Some(payment.clone()),
            ..Change::default()
        })
        .await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))));
    assert_eq!(store.payment("evt-1").await.unwrap(), Some(payment.clone()));
    assert_eq!(store.payment("evt-2").await.unwrap(), None);

    // Found by its id; marked refunded in place; listed by booking.
    assert_eq!(
        store.payment_by_id(payment.id()).await.unwrap(),
        Some(payment.clone())
    );
    assert_eq!(
        store
            .payment_by_id(PaymentId::of_event("evt-2"))
            .await
            .unwrap(),
        None
    );
    let refunded = payment.refunded(UserId::new(), "cash back", t(1)).unwrap();
    store
        .commit(Change {
            refund: Some(refunded.clone()),
            ..Change::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.payment_by_id(payment.id()).await.unwrap(),
        Some(refunded.clone())
    );
    let page = PageRequest {
        limit: 10,
        cursor: None,
    };
    let by_booking = |booking_id| PaymentFilter {
        booking_id: Some(booking_id),
        ..PaymentFilter::default()
    };
    let listed = store
        .list_payments(&by_booking(notice.booking_id), &page)
        .await
        .unwrap();
    assert_eq!(listed.items, vec![refunded]);
    let other = store
        .list_payments(&by_booking(BookingId::new()), &page)
        .await
        .unwrap();
    assert!(other.items.is_empty());
    let stranger = Payment::record(
        &PaymentNotice {
            event_id: "evt-never-stored".into(),
            ..notice.clone()
        },
        None,
        PaymentOutcome::UnknownBooking,
        t(0),
    );
    let missing = store
        .commit(Change {
            refund: Some(stranger),
            ..Change::default()
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// One provider event id reused for several bookings at once (or one delivery racing on two
/// nodes): exactly one change lands whole; every other gets `Duplicate` and leaves nothing
/// behind, neither its booking update, nor its events, nor a seq taken in a stream.
pub async fn concurrent_commits_of_one_payment_event_id_store_it_once(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    let outlet = OutletId::new();
    let mut bookings = vec![];
    for n in 0..WRITERS as i64 {
        let (b, events) = booking(outlet, None, n * 30);
        let created = events[0].clone();
        create(&store, &b, events, 1).await.unwrap();
        bookings.push((b, created));
    }
    let head = store.stream_head(Stream::All).await.unwrap();
    let mut writers = vec![];
    for (n, (b, created)) in bookings.iter().enumerate() {
        let notice = PaymentNotice {
            event_id: "evt-raced".into(),
            booking_id: b.id,
            status: PaymentStatus::Success,
            amount: b.amount,
            currency: "IDR".into(),
            paid_at: None,
            raw: format!("{{\"n\":{n}}}"),
            body_hash: format!("h{n}"),
        };
        let outcome = PaymentOutcome::Confirmed {
            booking_status: crate::domain::status::Status::AwaitingCustomer,
        };
        let payment = Payment::record(&notice, Some(outlet), outcome, t(0));
        let mut paid = b.clone();
        paid.status = crate::domain::status::Status::AwaitingCustomer;
        paid.paid_at = Some(t(0));
        paid.version += 1;
        let mut confirmed = created.clone();
        confirmed.event = EventKind::PaymentConfirmed;
        let change = Change {
            booking: Some(BookingWrite::Update(paid)),
            payment: Some(payment.clone()),
            events: vec![confirmed],
            ..Change::default()
        };
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            (payment, store.commit(change).await)
        }));
    }
    let mut winners = vec![];
    for writer in writers {
        match writer.await.unwrap() {
            (payment, Ok(_)) => winners.push(payment),
            (_, Err(StoreError::Duplicate(_))) => {}
            (_, Err(err)) => panic!("unexpected {err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer stores the event id");
    let winner = &winners[0];
    assert_eq!(
        store.payment("evt-raced").await.unwrap().as_ref(),
        Some(winner)
    );
    let listed = store
        .list_payments(
            &PaymentFilter::default(),
            &PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.items, vec![winner.clone()], "listed once");
    for (b, _) in &bookings {
        let stored = store.booking(b.id).await.unwrap().unwrap();
        let history = store.booking_events(b.id).await.unwrap();
        if b.id == winner.booking_id {
            assert_eq!(
                stored.paid_at,
                Some(t(0)),
                "the winner's booking is updated"
            );
            assert_eq!(history.len(), 2);
        } else {
            assert_eq!(stored, *b, "a loser's booking is untouched");
            assert_eq!(history.len(), 1, "a loser's event is not logged");
        }
    }
    assert_eq!(
        store.stream_head(Stream::All).await.unwrap(),
        head + 1,
        "the losers took no seq: the stream has no gap"
    );
    let after = store.events_after(Stream::All, head, 100).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].event.booking_id, Some(winner.booking_id));
}

pub async fn bookings_page_newest_first(store: Arc<dyn Store>) {
    let outlet = OutletId::new();
    for n in 0..7 {
        let (b, events) = booking(outlet, None, n * 20);
        create(&store, &b, events, 10).await.unwrap();
    }
    let filter = BookingFilter {
        outlet_id: Some(outlet),
        ..BookingFilter::default()
    };
    let mut cursor = None;
    let mut times = vec![];
    loop {
        let page = store
            .list_bookings(
                &filter,
                &PageRequest {
                    limit: 3,
                    cursor: cursor.clone(),
                },
            )
            .await
            .unwrap();
        times.extend(page.items.iter().map(|b| b.booking_time));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<DateTime<Utc>> = (0..7).rev().map(|n| t(n * 20)).collect();
    assert_eq!(times, expected);
    let bounded = BookingFilter {
        from: Some(t(20)),
        to: Some(t(60)),
        ..filter.clone()
    };
    let page = store
        .list_bookings(
            &bounded,
            &PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let bad = store
        .list_bookings(
            &filter,
            &PageRequest {
                limit: 3,
                cursor: Some("garbage".into()),
            },
        )
        .await;
    assert!(matches!(bad, Err(StoreError::BadCursor)));
}

pub async fn directory_records_round_trip(store: Arc<dyn Store>) {
    let outlet = Outlet {
        id: OutletId::new(),
        name: "Mall".into(),
        location: "Bandung".into(),
        timezone: "Asia/Jakarta".into(),
        price: Some(35_000),
        active: true,
    };
    store.create_outlet(&outlet, None).await.unwrap();
    assert_eq!(store.outlet(outlet.id).await.unwrap(), Some(outlet.clone()));
    let user = User {
        id: UserId::new(),
        name: "A".into(),
        email: "a@x.id".into(),
        role: Role::Admin,
        outlet_id: Some(outlet.id),
        password_hash: "h".into(),
        active: true,
    };
    store.create_user(&user, None).await.unwrap();
    let twin = User {
        id: UserId::new(),
        email: "A@X.ID".into(),
        ..user.clone()
    };
    assert!(matches!(
        store.create_user(&twin, None).await,
        Err(StoreError::EmailTaken)
    ));
    assert_eq!(
        store.user_by_email("A@x.id").await.unwrap().map(|u| u.id),
        Some(user.id)
    );
    assert!(!store.has_super_admin().await.unwrap());
    let booth = Booth {
        id: BoothId::new(),
        outlet_id: outlet.id,
        name: "B".into(),
        created_at: t(0),
        active: true,
        online: false,
        last_seen_at: None,
    };
    store
        .create_booth(&booth, "token-hash", None)
        .await
        .unwrap();
    assert_eq!(
        store.booth_by_token("token-hash").await.unwrap(),
        Some(booth.clone())
    );
    assert_eq!(store.count_booths(outlet.id).await.unwrap(), 1);
    store.put_login("login-hash", user.id, t(60)).await.unwrap();
    assert_eq!(
        store.login("login-hash", t(59)).await.unwrap(),
        Some((user.id, t(60)))
    );
    assert_eq!(
        store.login("login-hash", t(61)).await.unwrap(),
        None,
        "expired"
    );
    store.delete_login("login-hash").await.unwrap();
    assert_eq!(store.login("login-hash", t(0)).await.unwrap(), None);
    offboarding(&*store, user, booth).await;
    let first = store.secret("qr", b"one").await.unwrap();
    assert_eq!(
        store.secret("qr", b"two").await.unwrap(),
        first,
        "the first secret stays"
    );
}

/// Users and booths change and lose their tokens (contract v1.2).
async fn offboarding(store: &dyn Store, user: User, booth: Booth) {
    let changed = User {
        name: "A renamed".into(),
        role: Role::SuperAdmin,
        outlet_id: None,
        password_hash: "h2".into(),
        active: false,
        ..user.clone()
    };
    // A change and its audit entry are kept together, or neither.
    let entry = |kind| AuditEntry {
        id: AuditId::new(),
        kind,
        at: t(3),
        actor_id: Some(user.id),
        actor_email: Some(user.email.clone()),
        target: Some(AuditTarget::User(user.id)),
        outlet_id: user.outlet_id,
        booking_id: None,
        from: serde_json::Value::Null,
        to: serde_json::Value::Null,
        reason: None,
    };
    let kept = entry(AuditKind::UserUpdated);
    store.update_user(&changed, Some(&kept)).await.unwrap();
    assert_eq!(store.user(user.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(
        store.user_by_email(&user.email).await.unwrap(),
        Some(changed),
        "the e-mail address still finds the user"
    );
    let stranger = User {
        id: UserId::new(),
        ..user.clone()
    };
    let refused = entry(AuditKind::PasswordSet);
    assert!(matches!(
        store.update_user(&stranger, Some(&refused)).await,
        Err(StoreError::NotFound(_))
    ));
    let trail = store
        .list_audit(
            &AuditFilter::default(),
            &PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(trail.items, vec![kept], "the refused change left no entry");

    for hash in ["one", "two", "three"] {
        store.put_login(hash, user.id, t(60)).await.unwrap();
    }
    store
        .put_login("other-user", UserId::new(), t(60))
        .await
        .unwrap();
    let mut ended = store.delete_logins_of(user.id, Some("two")).await.unwrap();
    ended.sort();
    assert_eq!(ended, ["one", "three"]);
    assert_eq!(store.login("one", t(0)).await.unwrap(), None);
    assert_eq!(
        store.login("two", t(0)).await.unwrap(),
        Some((user.id, t(60)))
    );
    assert!(store.login("other-user", t(0)).await.unwrap().is_some());
    assert_eq!(
        store.delete_logins_of(user.id, None).await.unwrap(),
        ["two"]
    );
    assert_eq!(store.login("two", t(0)).await.unwrap(), None);

    store
        .set_booth_token(booth.id, "rotated", None)
        .await
        .unwrap();
    assert_eq!(store.booth_by_token("token-hash").await.unwrap(), None);
    assert_eq!(
        store.booth_by_token("rotated").await.unwrap().map(|b| b.id),
        Some(booth.id)
    );
    store
        .set_booth_token(booth.id, "rotated-again", None)
        .await
        .unwrap();
    assert_eq!(store.booth_by_token("rotated").await.unwrap(), None);
    // Presence recorded between an edit's read and its write is kept.
    store
        .commit(Change {
            presence: Some(Presence {
                booth_id: booth.id,
                online: true,
                at: t(5),
            }),
            ..Change::default()
        })
        .await
        .unwrap();
    let retired = Booth {
        name: "B retired".into(),
        active: false,
        ..booth.clone()
    };
    store.update_booth(&retired, None).await.unwrap();
    let stored = store.booth(booth.id).await.unwrap().unwrap();
    assert_eq!((stored.online, stored.last_seen_at), (true, Some(t(5))));
    let retired = Booth {
        online: true,
        last_seen_at: Some(t(5)),
        ..retired
    };
    assert_eq!(stored, retired);
    assert_eq!(
        store.count_booths(booth.outlet_id).await.unwrap(),
        0,
        "a deactivated booth serves no booking"
    );
    store
        .update_booth(
            &Booth {
                active: true,
                ..retired
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.count_booths(booth.outlet_id).await.unwrap(), 1);
}

mod embedded {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        (dir, store)
    }

    #[tokio::test]
    async fn seqs() {
        let (_dir, store) = open();
        seqs_are_gapless_per_stream(store).await;
    }

    #[tokio::test]
    async fn slots() {
        let (_dir, store) = open();
        slot_claims_are_atomic(store).await;
    }

    #[tokio::test]
    async fn history() {
        let (_dir, store) = open();
        a_bookings_events_are_its_history(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent() {
        let (_dir, store) = open();
        concurrent_commits_stay_atomic_and_gapless(store).await;
    }

    #[tokio::test]
    async fn payments() {
        let (_dir, store) = open();
        a_payment_event_id_is_stored_once(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn payments_raced() {
        let (_dir, store) = open();
        concurrent_commits_of_one_payment_event_id_store_it_once(store).await;
    }

    #[tokio::test]
    async fn paging() {
        let (_dir, store) = open();
        bookings_page_newest_first(store).await;
    }

    #[tokio::test]
    async fn directory() {
        let (_dir, store) = open();
        directory_records_round_trip(store).await;
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(EmbeddedStore::open(dir.path()).unwrap());
        let conn = rusqlite::Connection::open(dir.path().join("boothhub.sqlite3")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = EmbeddedStore::open(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("newer"), "{err}");
    }
}

#[cfg(feature = "scylla-tests")]
mod scylla {
    use super::*;
    use crate::store::scylla::{ScyllaSettings, ScyllaStore};

    /// A store on a fresh keyspace of the CQL server named by `BOOTHHUB_TEST_SCYLLA_NODES`.
    async fn open() -> Arc<dyn Store> {
        #[allow(
            clippy::disallowed_methods,
            reason = "the test server's address comes from the test runner"
        )]
        let nodes = std::env::var("BOOTHHUB_TEST_SCYLLA_NODES").unwrap_or_else(|_| {
            panic!("set BOOTHHUB_TEST_SCYLLA_NODES (scripts/test starts a server)")
        });
        let keyspace = format!("suite_{}", uuid::Uuid::new_v4().simple());
        let settings = ScyllaSettings {
            nodes: nodes.split(',').map(str::to_owned).collect(),
            keyspace,
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
        };
        Arc::new(ScyllaStore::connect(&settings).await.unwrap())
    }

    #[tokio::test]
    async fn seqs() {
        seqs_are_gapless_per_stream(open().await).await;
    }

    #[tokio::test]
    async fn slots() {
        slot_claims_are_atomic(open().await).await;
    }

    #[tokio::test]
    async fn history() {
        a_bookings_events_are_its_history(open().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent() {
        concurrent_commits_stay_atomic_and_gapless(open().await).await;
    }

    #[tokio::test]
    async fn payments() {
        a_payment_event_id_is_stored_once(open().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn payments_raced() {
        concurrent_commits_of_one_payment_event_id_store_it_once(open().await).await;
    }

    #[tokio::test]
    async fn paging() {
        bookings_page_newest_first(open().await).await;
    }

    #[tokio::test]
    async fn directory() {
        directory_records_round_trip(open().await).await;
    }

    /// A store on a fresh keyspace, with a raw session to write what a crashed writer or an
    /// older build left behind.
    async fn open_raw() -> (Arc<dyn Store>, ::scylla::client::session::Session, String) {
        #[allow(
            clippy::disallowed_methods,
            reason = "the test server's address comes from the test runner"
        )]
        let nodes = std::env::var("BOOTHHUB_TEST_SCYLLA_NODES").unwrap_or_default();
        let nodes: Vec<String> = nodes.split(',').map(str::to_owned).collect();
        let keyspace = format!("suite_{}", uuid::Uuid::new_v4().simple());
        let settings = ScyllaSettings {
            nodes: nodes.clone(),
            keyspace: keyspace.clone(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
        };
        let store: Arc<dyn Store> = Arc::new(ScyllaStore::connect(&settings).await.unwrap());
        let session = ::scylla::client::session_builder::SessionBuilder::new()
            .known_nodes(&nodes)
            .build()
            .await
            .unwrap();
        (store, session, keyspace)
    }

    fn unknown_booking_payment(event_id: &str, received_at: DateTime<Utc>) -> Payment {
        let notice = PaymentNotice {
            event_id: event_id.into(),
            booking_id: BookingId::new(),
            status: PaymentStatus::Success,
            amount: 1,
            currency: "IDR".into(),
            paid_at: None,
            raw: "{}".into(),
            body_hash: "h".into(),
        };
        Payment::record(&notice, None, PaymentOutcome::UnknownBooking, received_at)
    }

    fn commit_payment(
        store: &Arc<dyn Store>,
        payment: &Payment,
    ) -> impl std::future::Future<Output = Result<Vec<StoredEvent>, StoreError>> {
        store.commit(Change {
            payment: Some(payment.clone()),
            ..Change::default()
        })
    }

    /// A writer that died between its claim and its batch leaves a claim with no payment: a
    /// retry is told to come back while the claim is fresh, and takes it over once stale.
    #[tokio::test]
    async fn a_payment_claim_left_by_a_dead_writer_is_taken_over_once_stale() {
        let (store, session, keyspace) = open_raw().await;
        let orphan = format!("{}@{}", uuid::Uuid::new_v4(), t(0).timestamp_millis());
        session
            .query_unpaged(
                format!(
                    "INSERT INTO {keyspace}.unique_keys (kind, key, id) VALUES ('payment', 'evt-orphan', '{orphan}')"
                ),
                (),
            )
            .await
            .unwrap();
        let soon = unknown_booking_payment("evt-orphan", t(0) + Duration::seconds(30));
        let busy = commit_payment(&store, &soon).await;
        assert!(matches!(busy, Err(StoreError::Unavailable(_))), "{busy:?}");
        assert_eq!(store.payment("evt-orphan").await.unwrap(), None);

        let later = unknown_booking_payment("evt-orphan", t(0) + Duration::seconds(61));
        commit_payment(&store, &later).await.unwrap();
        assert_eq!(
            store.payment("evt-orphan").await.unwrap(),
            Some(later.clone())
        );
        let again = commit_payment(&store, &later).await;
        assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    }

    /// Payments stored before event ids were claimed have no claim: the stored payment still
    /// makes a second one a duplicate.
    #[tokio::test]
    async fn a_payment_stored_before_claims_existed_is_still_a_duplicate() {
        let (store, session, keyspace) = open_raw().await;
        let old = unknown_booking_payment("evt-old", t(0));
        let doc = serde_json::to_string(&old).unwrap();
        session
            .query_unpaged(
                format!("INSERT INTO {keyspace}.payments (event_id, doc) VALUES ('evt-old', ?)"),
                (doc,),
            )
            .await
            .unwrap();
        let again = commit_payment(&store, &unknown_booking_payment("evt-old", t(1))).await;
        assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
        assert_eq!(store.payment("evt-old").await.unwrap(), Some(old));
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        #[allow(
            clippy::disallowed_methods,
            reason = "the test server's address comes from the test runner"
        )]
        let nodes = std::env::var("BOOTHHUB_TEST_SCYLLA_NODES").unwrap_or_default();
        let nodes: Vec<String> = nodes.split(',').map(str::to_owned).collect();
        let keyspace = format!("suite_{}", uuid::Uuid::new_v4().simple());
        let replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned();
        let settings = ScyllaSettings {
            nodes: nodes.clone(),
            keyspace: keyspace.clone(),
            replication,
        };
        drop(ScyllaStore::connect(&settings).await.unwrap());
        let session = ::scylla::client::session_builder::SessionBuilder::new()
            .known_nodes(&nodes)
            .build()
            .await
            .unwrap();
        let bump = format!("UPDATE {keyspace}.meta SET value = '99' WHERE key = 'schema_version'");
        session.query_unpaged(bump, ()).await.unwrap();
        let err = ScyllaStore::connect(&settings)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("newer"), "{err}");
        // Applying the schema again over the existing tables is harmless (IF NOT EXISTS).
        session
            .query_unpaged(
                format!("UPDATE {keyspace}.meta SET value = '0' WHERE key = 'schema_version'"),
                (),
            )
            .await
            .unwrap();
        let again = ScyllaStore::connect(&settings).await;
        assert!(again.is_ok(), "{:?}", again.err());
    }
}
