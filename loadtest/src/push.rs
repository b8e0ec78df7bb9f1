//! The push scenario: N booths and M dashboards connected; lifecycles driven at a rate
//! (booking paid at the counter → arrival → start → finish); latency from each request's
//! send to the event's arrival at the booth and at the dashboards; every stream checked for
//! gaps and duplicates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use crate::hub::Hub;
use crate::socket::{self, Client, Receipt};
use crate::stats::Summary;

pub struct Shape {
    pub booths: usize,
    pub dashboards: usize,
    pub rate: f64,
    pub duration: Duration,
}

/// The events each lifecycle step must push, by the step's name.
const STEPS: [(&str, &str); 3] = [
    ("arrival", "SESSION_APPROVED"),
    ("start", "SESSION_STARTED"),
    ("finish", "SESSION_DONE"),
];

pub struct Report {
    pub lifecycles: usize,
    pub booth_latency: Summary,
    pub dashboard_latency: Summary,
    pub booth_receipts: usize,
    pub dashboard_receipts: usize,
    pub lost: usize,
    pub gaps: usize,
    pub duplicates: usize,
    pub elapsed: Duration,
}

pub async fn run(hub: &Hub, shape: Shape) -> anyhow::Result<Report> {
    let outlet = hub.create_outlet("Push Mall").await?;
    eprintln!("provisioning {} booths…", shape.booths);
    let mut booths = Vec::with_capacity(shape.booths);
    for n in 0..shape.booths {
        booths.push(hub.create_booth(&outlet, &format!("Booth {n}")).await?);
    }
    let tls = socket::tls(hub.ca.as_deref())?;
    let (receipts_tx, mut receipts_rx) = mpsc::unbounded_channel::<Receipt>();
    eprintln!(
        "connecting {} booths and {} dashboards…",
        shape.booths, shape.dashboards
    );
    let mut ready = vec![];
    // Once measured, the hub may go away: its clients' errors are no news then.
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let admin = hub.token().unwrap_or_default().to_owned();
    let clients = booths
        .iter()
        .enumerate()
        .map(|(index, (_, token))| Client {
            index,
            token: token.clone(),
            json: false,
            subscribe: None,
        })
        .chain((0..shape.dashboards).map(|n| Client {
            index: shape.booths + n,
            token: admin.clone(),
            json: true,
            subscribe: Some(format!("outlet:{outlet}")),
        }));
    for client in clients {
        let (done, connected) = tokio::sync::oneshot::channel();
        ready.push(connected);
        let (base, tls, receipts) = (hub.base().to_owned(), tls.clone(), receipts_tx.clone());
        let finished = Arc::clone(&finished);
        tokio::spawn(async move {
            let result = socket::run(client, base, tls, receipts, done).await;
            if let (Err(err), false) = (result, finished.load(std::sync::atomic::Ordering::SeqCst))
            {
                eprintln!("client error: {err:#}");
            }
        });
    }
    for connected in ready {
        connected.await?;
    }
    // Let presence events and subscriptions settle before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while receipts_rx.try_recv().is_ok() {}

    eprintln!(
        "driving {:.0} lifecycles/s for {:?}…",
        shape.rate, shape.duration
    );
    let sent: Arc<Mutex<HashMap<(String, &'static str), Instant>>> = Arc::default();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / shape.rate);
    let mut ticker = tokio::time::interval(interval);
    let mut tasks = vec![];
    let mut next_booth = 0;
    while started.elapsed() < shape.duration {
        ticker.tick().await;
        let (booth_id, booth_token) = booths[next_booth % booths.len()].clone();
        next_booth += 1;
        let (hub, outlet, sent) = (hub.clone(), outlet.clone(), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let booking = hub.create_paid_booking(&outlet, &booth_id).await?;
            let id = booking["id"].as_str().unwrap_or_default().to_owned();
            for (step, kind) in STEPS {
                let body = if step == "arrival" {
                    json!({ "qr_token": booking["qr_token"] })
                } else {
                    json!({})
                };
                if let Ok(mut sent) = sent.lock() {
                    sent.insert((id.clone(), kind), Instant::now());
                }
                hub.post_as(&booth_token, &format!("/session/{id}/{step}"), &body)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    let lifecycles = tasks.len();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    // Collect what arrives until the sockets fall quiet.
    let mut receipts = vec![];
    while let Ok(Some(receipt)) =
        tokio::time::timeout(Duration::from_secs(2), receipts_rx.recv()).await
    {
        receipts.push(receipt);
    }
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(report(
        lifecycles,
        shape.booths,
        shape.dashboards,
        &sent,
        &receipts,
        elapsed,
    ))
}

fn report(
    lifecycles: usize,
    booths: usize,
    dashboards: usize,
    sent: &HashMap<(String, &'static str), Instant>,
    receipts: &[Receipt],
    elapsed: Duration,
) -> Report {
    let mut booth_latency = vec![];
    let mut dashboard_latency = vec![];
    let mut seen: HashMap<(usize, String), Vec<u64>> = HashMap::new();
    let mut booth_receipts = 0;
    let mut dashboard_receipts = 0;
    let mut delivered: HashMap<(String, String, bool), usize> = HashMap::new();
    for receipt in receipts {
        seen.entry((receipt.client, receipt.stream.clone()))
            .or_default()
            .push(receipt.seq);
        let on_booth = receipt.client < booths;
        if on_booth {
            booth_receipts += 1;
        } else {
            dashboard_receipts += 1;
        }
        let Some((_, kind)) = STEPS.iter().find(|(_, kind)| *kind == receipt.kind) else {
            continue;
        };
        let key = (receipt.booking_id.clone(), *kind);
        if let Some(sent_at) = sent.get(&key) {
            let latency = receipt.at.saturating_duration_since(*sent_at);
            if on_booth {
                booth_latency.push(latency)
            } else {
                dashboard_latency.push(latency)
            }
            *delivered
                .entry((receipt.booking_id.clone(), receipt.kind.clone(), on_booth))
                .or_default() += 1;
        }
    }
    // Every step's event must reach its booth once and every dashboard once.
    let mut lost = 0;
    for (booking, kind) in sent.keys() {
        let at_booth = delivered
            .get(&(booking.clone(), (*kind).to_owned(), true))
            .copied()
            .unwrap_or(0);
        let at_dashboards = delivered
            .get(&(booking.clone(), (*kind).to_owned(), false))
            .copied()
            .unwrap_or(0);
        lost += 1usize.saturating_sub(at_booth) + dashboards.saturating_sub(at_dashboards);
    }
    let (mut gaps, mut duplicates) = (0, 0);
    for seqs in seen.values() {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for seq in seqs {
            *counts.entry(*seq).or_default() += 1;
        }
        duplicates += counts.values().map(|c| c - 1).sum::<usize>();
        if let (Some(first), Some(last)) = (counts.keys().next(), counts.keys().last()) {
            gaps += (last - first + 1) as usize - counts.len();
        }
    }
    Report {
        lifecycles,
        booth_latency: Summary::of(&mut booth_latency),
        dashboard_latency: Summary::of(&mut dashboard_latency),
        booth_receipts,
        dashboard_receipts,
        lost,
        gaps,
        duplicates,
        elapsed,
    }
}
