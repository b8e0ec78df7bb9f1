//! Criterion benches of the hot paths that need no I/O: the status machine, the webhook
//! signature check and the QR token check. Run: `cargo bench --bench hot_paths`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;

use boothhub::auth::webhook;
use boothhub_actors::domain::ids::BookingId;
use boothhub_actors::domain::qr::QrSigner;
use boothhub_actors::domain::status::{OverrideTarget, Status, Trigger, Window, decide};
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

criterion_group!(benches, status_machine, webhook_signature, qr_token);
criterion_main!(benches);
