//! The honest payment webhooks of an abuse run: a payment provider's signed `SUCCESS`, one
//! after another at a steady rate, each for its own pending booking, from the honest
//! clients' address. Every one must answer 200, fast, whatever the attackers do.

use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Outcomes, Tally};
use crate::hub::Hub;

/// Bookings one booth takes, a 15-minute slot each (2,000 slots are under three weeks ahead,
/// well inside the 90 days a booking may be made in advance).
const BOOKINGS_PER_BOOTH: usize = 2000;

/// `count` pending bookings at `outlet`, spread over as many booths as they need.
pub async fn provision(
    hub: &Hub,
    outlet: &str,
    count: usize,
) -> anyhow::Result<Vec<(String, i64)>> {
    eprintln!("provisioning {count} bookings for the honest webhooks…");
    let mut booths = vec![];
    for n in 0..count.div_ceil(BOOKINGS_PER_BOOTH) {
        booths.push(
            hub.create_booth(outlet, &format!("Webhook Booth {n}"))
                .await?
                .0,
        );
    }
    let mut bookings = Vec::with_capacity(count);
    for n in 0..count {
        let booth = &booths[n / BOOKINGS_PER_BOOTH];
        let minutes = 60 + 15 * (n % BOOKINGS_PER_BOOTH) as i64;
        bookings.push(hub.create_booking(outlet, booth, minutes).await?);
    }
    Ok(bookings)
}

pub struct Report {
    /// By HTTP status ("200" expected), with each request's latency.
    pub outcomes: Outcomes,
}

/// Sends one webhook per booking at `rate` a second until `deadline` or the bookings run out.
pub async fn run(hub: &Hub, bookings: Vec<(String, i64)>, rate: f64, deadline: Instant) -> Report {
    let mut tally = Tally::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for (id, amount) in bookings {
        ticker.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        let body = json!({
            "event_id": format!("evt-abuse-{}", uuid::Uuid::new_v4()),
            "booking_id": id,
            "status": "SUCCESS",
            "amount": amount,
            "currency": "IDR",
        });
        let sent = Instant::now();
        let outcome = match hub.send_webhook(&body).await {
            Ok(status) => status.to_string(),
            Err(err) => format!("error: {err}"),
        };
        tally.record(outcome, sent.elapsed());
    }
    Report {
        outcomes: tally.finish(),
    }
}
