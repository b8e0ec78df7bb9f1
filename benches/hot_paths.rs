//! Criterion benches of the hot paths: the status machine, the webhook signature check, the
//! QR token check, MessagePack encoding of an event, fan-out of one event to 1,000 in-process
//! subscribers, and a durable event-log append on the embedded store.
//! Run: `cargo bench --bench hot_paths`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]
#![allow(clippy::disallowed_methods, reason = "benches build fixed inputs")]

use std::hint::black_box;
use std::sync::Arc;

use boothhub::auth::webhook;
use boothhub::wire::ServerMessage;
use boothhub::ws::protocol::{Protocol, encode};
use boothhub_actors::domain::event::{Event, EventKind, StoredEvent, Stream};
use boothhub_actors::domain::ids::{BookingId, BoothId, OutletId};
use boothhub_actors::domain::qr::QrSigner;
use boothhub_actors::domain::status::{OverrideTarget, Status, Trigger, Window, decide};
use boothhub_actors::router::{Published, StreamRouter};
use boothhub_actors::store::embedded::EmbeddedStore;
use boothhub_actors::store::{Change, Store};
use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};

fn status_machine(c: &mut Criterion) {
    let triggers = [
        Trigger::PaymentSucceeded,
        Trigger::Arrival(Window::Before),
        Trigger::Arrival(Window::Inside),
        Trigger::Arrival(Window::After),
        Trigger::Start,
        Trigger::Finish,
        Trigger::DeadlinePassed,
        Trigger::SessionEnded,
        Trigger::Override(OverrideTarget::Overridden),
    ];
    c.bench_function("status machine: all 72 (status, trigger) pairs", |b| {
        b.iter(|| {
            for status in Status::ALL {
                for trigger in triggers {
                    black_box(decide(black_box(status), black_box(trigger)));
                }
            }
        })
    });
}

fn webhook_signature(c: &mut Criterion) {
    let secret = b"whsec_bench_0123456789abcdef";
    let body = br#"{"event_id":"evt_01HZX3","booking_id":"01a215eb-b120-777d-aed4-dafdaf969cd2","status":"SUCCESS","amount":50000,"currency":"IDR","paid_at":"2026-11-26T10:00:00.000Z","provider":{"channel":"qris","reference":"QR-8812-2291"}}"#;
    let now = 1_800_000_000;
    let header = webhook::sign(secret, now, body);
    c.bench_function("webhook signature verify (250-byte body)", |b| {
        b.iter(|| {
            webhook::verify(
                black_box(secret),
                Some(black_box(&header)),
                black_box(body),
                now,
            )
            .unwrap()
        })
    });
}

fn qr_token(c: &mut Criterion) {
    let signer = QrSigner::new(b"qr-secret-0123456789abcdef0123456".to_vec());
    let booking = BookingId::new();
    let token = signer.sign(booking);
    c.bench_function("qr token verify", |b| {
        b.iter(|| assert!(signer.verify(black_box(booking), black_box(&token))))
    });
}

fn an_event(seq: u64) -> StoredEvent {
    let outlet = OutletId::new();
    StoredEvent {
        stream: Stream::Outlet(outlet),
        seq,
        event: Event {
            event: EventKind::SessionApproved,
            booking_id: Some(BookingId::new()),
            booth_id: Some(BoothId::new()),
            outlet_id: Some(outlet),
            status: Some(Status::Arrived),
            at: DateTime::from_timestamp_millis(1_800_000_000_000).unwrap(),
            data: serde_json::Value::Null,
        },
    }
}

fn messagepack_encode(c: &mut Criterion) {
    let stored = an_event(42);
    c.bench_function("MessagePack encode of an event message", |b| {
        b.iter(|| encode(Protocol::MsgPack, &ServerMessage::event(black_box(&stored))))
    });
}

fn fan_out(c: &mut Criterion) {
    let router = StreamRouter::default();
    let stored = an_event(1);
    let mut receivers = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        router.listen(stored.stream, Arc::new(tx));
        receivers.push(rx);
    }
    let published = Arc::new(Published::new(stored));
    c.bench_function(
        "fan-out of one event to 1,000 subscribers (publish + receive)",
        |b| {
            b.iter(|| {
                router.publish(black_box(&published));
                for rx in &mut receivers {
                    black_box(rx.try_recv().ok());
                }
            })
        },
    );
}

fn event_log_append(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let mut group = c.benchmark_group("embedded store");
    group.sample_size(30);
    group.bench_function("durable append of one event on 3 streams (fsync)", |b| {
        b.to_async(&runtime).iter(|| {
            let store = Arc::clone(&store);
            async move {
                let event = an_event(0).event;
                store
                    .commit(Change {
                        events: vec![event],
                        ..Change::default()
                    })
                    .await
                    .unwrap()
            }
        })
    });
    // Many writers at once (presence changes of a reconnect storm, webhooks in a burst):
    // the store commits whatever is queued together, one fsync for the group.
    group.bench_function("32 concurrent appends (group commit)", |b| {
        b.to_async(&runtime).iter(|| {
            let store = Arc::clone(&store);
            async move {
                let writers: Vec<_> = (0..32)
                    .map(|_| {
                        let store = Arc::clone(&store);
                        tokio::spawn(async move {
                            let change = Change {
                                events: vec![an_event(0).event],
                                ..Change::default()
                            };
                            store.commit(change).await.map(|_| ())
                        })
                    })
                    .collect();
                for writer in writers {
                    black_box(writer.await.ok());
                }
            }
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    status_machine,
    webhook_signature,
    qr_token,
    messagepack_encode,
    fan_out,
    event_log_append
);
criterion_main!(benches);
