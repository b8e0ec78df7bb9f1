//! The push scenario: N booths and M dashboards connected; lifecycles driven at a rate
//! (booking paid at the counter → arrival → start → finish); latency from each request's
//! send to the event's arrival at the booth and at the dashboards; every stream checked for
//! gaps and duplicates (booth streams are at-least-once: their repeats count as redeliveries).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
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
    /// Percent of booths dropped at once, `storm_after` into the run (0: no storm).
    pub storm_percent: u32,
    pub storm_after: Duration,
    /// Told when the lifecycles start (the sockets are connected and quiet), so that other
    /// load can run alongside the measured part (the abuse scenario's attacks).
    pub driving: Option<tokio::sync::oneshot::Sender<()>>,
    /// With several nodes: one is killed this far into the run.
    pub kill: Option<Kill>,
}

/// A node killed during the run (kill -9 by `kill`); its clients move to the other nodes.
pub struct Kill {
    pub node: usize,
    pub after: Duration,
    pub kill: Box<dyn FnOnce() + Send>,
}

/// What a node's death did to the run.
pub struct Failover {
    pub node: usize,
    /// When it was killed, into the driving.
    pub at: Duration,
    /// Clients that were connected to it.
    pub moved: usize,
    /// Of those, how many came back (on another node) and resumed.
    pub back: usize,
    /// From the kill to the last of them back and resumed.
    pub all_back_within: Option<Duration>,
    /// Lifecycles whose booking request the dead node had in hand (not sent again: it may
    /// have been applied).
    pub interrupted: usize,
    pub booth_before: Summary,
    pub booth_after: Summary,
    pub dashboard_before: Summary,
    pub dashboard_after: Summary,
}

impl Shape {
    pub fn steady(booths: usize, dashboards: usize, rate: f64, duration: Duration) -> Shape {
        Shape {
            booths,
            dashboards,
            rate,
            duration,
            storm_percent: 0,
            storm_after: Duration::ZERO,
            driving: None,
            kill: None,
        }
    }
}

/// A reconnect storm's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Storm {
    pub dropped: usize,
    pub resumed: usize,
    /// From the drop to the last booth back and resumed.
    pub all_back_within: Option<Duration>,
}

/// The event name if it is one a run measures.
pub fn measured(event: &str) -> Option<&'static str> {
    STEPS
        .iter()
        .find(|(_, kind)| *kind == event)
        .map(|(_, kind)| *kind)
}

/// Clients that connect from one loopback address.
const CLIENTS_PER_ADDRESS: usize = 200;
/// Dashboards that share one login (tabs of one browser).
const DASHBOARDS_PER_LOGIN: usize = 10;

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
    /// Booth-stream events received again (acked delivery retried).
    pub redelivered: usize,
    /// Connections the hub closed with 4008 for falling behind (each resumed), while
    /// measured and while the connect-time presence events were delivered.
    pub slow_closes: usize,
    pub slow_closes_at_connect: usize,
    pub elapsed: Duration,
    pub storm: Option<Storm>,
    pub failover: Option<Failover>,
    /// Every latency sample, for the histogram.
    pub booth_samples: Vec<Duration>,
    pub dashboard_samples: Vec<Duration>,
}

/// Drives the run through `hubs` (the nodes of one hub; one is the usual case): the first
/// provisions; clients and lifecycles are spread over them all.
pub async fn run(hubs: &[Hub], mut shape: Shape) -> anyhow::Result<Report> {
    let hub = hubs.first().context("no hub to drive")?;
    let nodes = hubs.len();
    let bases: Arc<[String]> = hubs.iter().map(|h| h.base().to_owned()).collect();
    let alive: Arc<Vec<std::sync::atomic::AtomicBool>> = Arc::new(
        (0..nodes)
            .map(|_| std::sync::atomic::AtomicBool::new(true))
            .collect(),
    );
    let shared_hubs: Arc<Vec<Hub>> = Arc::new(hubs.to_vec());
    let outlet = hub.create_outlet("Push Mall").await?;
    eprintln!("provisioning {} booths…", shape.booths);
    let mut booths = Vec::with_capacity(shape.booths);
    for n in 0..shape.booths {
        booths.push(hub.create_booth(&outlet, &format!("Booth {n}")).await?);
    }
    let tls = socket::tls(hub.ca.as_deref())?;
    let (receipts_tx, mut receipts_rx) = mpsc::unbounded_channel::<Receipt>();
    let (resumed_tx, mut resumed_rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let (storm_tx, storm_rx) = tokio::sync::watch::channel(0u64);
    let in_storm = |index: usize| (index % 100) < shape.storm_percent as usize;
    eprintln!(
        "connecting {} booths and {} dashboards…",
        shape.booths, shape.dashboards
    );
    let mut ready = vec![];
    let slow_closes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Once measured, the hub may go away: its clients' errors are no news then.
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // One login per few dashboards, as an operator's browser tabs share one: the hub caps
    // the WebSockets one token may hold (20 by default), and limits logins per address.
    let mut logins = Vec::new();
    for _ in 0..shape.dashboards.div_ceil(DASHBOARDS_PER_LOGIN) {
        logins.push(hub.another_login().await?);
    }
    let clients = booths
        .iter()
        .enumerate()
        .map(|(index, (id, token))| Client {
            index,
            token: token.clone(),
            json: false,
            subscribe: None,
            own_stream: Some(format!("booth:{id}")),
        })
        .chain((0..shape.dashboards).map(|n| Client {
            index: shape.booths + n,
            token: logins[n / DASHBOARDS_PER_LOGIN].clone(),
            json: true,
            subscribe: Some(format!("outlet:{outlet}")),
            own_stream: None,
        }));
    for client in clients {
        let (done, connected) = tokio::sync::oneshot::channel();
        ready.push(connected);
        let is_booth = client.index < shape.booths;
        let wiring = socket::Wiring {
            receipts: receipts_tx.clone(),
            slow_closes: Arc::clone(&slow_closes),
            resumed: resumed_tx.clone(),
            storm: (is_booth && in_storm(client.index)).then(|| storm_rx.clone()),
            // Booths connect all at once: fewer per address than the hub's per-address cap
            // on connections that have not authenticated yet (256).
            source: Some(socket::source(client.index, CLIENTS_PER_ADDRESS)),
            failover: (nodes > 1).then(|| Arc::clone(&finished)),
        };
        let (bases, tls) = (Arc::clone(&bases), tls.clone());
        let finished = Arc::clone(&finished);
        let first = client.index % nodes;
        tokio::spawn(async move {
            let result = socket::run(client, bases, first, tls, wiring, done).await;
            if let (Err(err), false) = (result, finished.load(std::sync::atomic::Ordering::SeqCst))
            {
                eprintln!("client error: {err:#}");
            }
        });
    }
    for connected in ready {
        connected.await?;
    }
    // Measure the steady state: every booth that came online pushed a `BOOTH_ONLINE` to
    // every dashboard (10,000 booths × 100 dashboards is a million frames), so wait until
    // the sockets fall quiet.
    let settling = Instant::now();
    let mut settled = 0usize;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), receipts_rx.recv()).await {
        settled += 1;
        if settled.is_multiple_of(100_000) {
            eprintln!("  settling: {settled} connect-time events received");
        }
    }
    let slow_at_connect = slow_closes.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "settled: {settled} connect-time events in {:.1}s ({slow_at_connect} slow-consumer closes meanwhile, resumed)",
        settling.elapsed().as_secs_f64()
    );

    eprintln!(
        "driving {:.0} lifecycles/s for {:?}…",
        shape.rate, shape.duration
    );
    let sent: Arc<Mutex<HashMap<(String, &'static str), Instant>>> = Arc::default();
    if let Some(driving) = shape.driving.take() {
        let _ = driving.send(());
    }
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / shape.rate);
    let mut ticker = tokio::time::interval(interval);
    let mut tasks = vec![];
    let mut next_booth = 0;
    let mut storm_at = None;
    let mut killed_at = None;
    let mut kill = shape.kill.take();
    let mut last_progress = Instant::now();
    let interrupted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let busy: Arc<Mutex<std::collections::HashSet<usize>>> = Arc::default();
    while started.elapsed() < shape.duration {
        ticker.tick().await;
        if kill.as_ref().is_some_and(|k| started.elapsed() >= k.after)
            && let Some(Kill { node, kill, .. }) = kill.take()
        {
            eprintln!("  kill -9 of node {node} ({})", bases[node]);
            alive[node].store(false, std::sync::atomic::Ordering::SeqCst);
            killed_at = Some((node, Instant::now()));
            kill();
        }
        if shape.storm_percent > 0 && storm_at.is_none() && started.elapsed() >= shape.storm_after {
            eprintln!(
                "  storm: dropping {}% of the booths at once",
                shape.storm_percent
            );
            storm_at = Some(Instant::now());
            let _ = storm_tx.send(1);
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            eprintln!(
                "  {:>4.1}s  {} lifecycles started",
                started.elapsed().as_secs_f64(),
                tasks.len()
            );
        }
        // A booth whose booking a dead node had in hand may hold that booking's slot: skip it.
        while busy
            .lock()
            .is_ok_and(|busy| busy.contains(&(next_booth % booths.len())))
        {
            next_booth += 1;
        }
        let booth_index = next_booth % booths.len();
        let (booth_id, booth_token) = booths[booth_index].clone();
        // Round robin over the nodes alive, as a load balancer would.
        let node = (0..nodes)
            .map(|k| (next_booth + k) % nodes)
            .find(|k| alive[*k].load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(0);
        next_booth += 1;
        let (hubs, outlet, sent) = (Arc::clone(&shared_hubs), outlet.clone(), Arc::clone(&sent));
        let (alive, interrupted) = (Arc::clone(&alive), Arc::clone(&interrupted));
        let busy = Arc::clone(&busy);
        tasks.push(tokio::spawn(async move {
            let dead = |node: usize| !alive[node].load(std::sync::atomic::Ordering::SeqCst);
            let next_alive =
                |node: usize| (1..=nodes).map(|k| (node + k) % nodes).find(|k| !dead(*k));
            let mut node = node;
            // The booking: when its node dies with the request in hand, the request may
            // have been applied, so it is not sent again (that lifecycle is interrupted).
            let booking = match hubs[node].create_paid_booking(&outlet, &booth_id).await {
                Ok(booking) => booking,
                Err(_) if dead(node) => {
                    interrupted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if let Ok(mut busy) = busy.lock() {
                        busy.insert(booth_index);
                    }
                    return anyhow::Ok(());
                }
                Err(err) => return Err(err),
            };
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
                // A step sent to a node that dies is sent again to the next one, as a client
                // behind a load balancer retries (each step is a safe repeat): its latency
                // counts from the first send.
                loop {
                    let path = format!("/session/{id}/{step}");
                    match hubs[node].post_as(&booth_token, &path, &body).await {
                        Ok(_) => break,
                        Err(_) if dead(node) => {
                            node = next_alive(node).context("no node left")?;
                        }
                        Err(err) => return Err(err),
                    }
                }
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
    let storm = storm_at.map(|at| {
        let dropped = (0..shape.booths).filter(|i| in_storm(*i)).count();
        let mut back = vec![];
        while let Ok((_, when)) = resumed_rx.try_recv() {
            back.push(when.saturating_duration_since(at));
        }
        let all_back_within =
            (back.len() == dropped).then(|| back.iter().max().copied().unwrap_or_default());
        Storm {
            dropped,
            resumed: back.len(),
            all_back_within,
        }
    });
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let mut report = report(
        lifecycles,
        shape.booths,
        shape.dashboards,
        &sent,
        &receipts,
        elapsed,
    );
    report.storm = storm;
    if let Some((node, at)) = killed_at {
        let moved = (0..shape.booths + shape.dashboards)
            .filter(|i| i % nodes == node)
            .count();
        // Each client once, at its first return after the kill.
        let mut first_back = HashMap::new();
        while let Ok((client, when)) = resumed_rx.try_recv() {
            if client % nodes == node && when >= at {
                first_back.entry(client).or_insert(when);
            }
        }
        let back: Vec<Duration> = first_back
            .values()
            .map(|when| when.saturating_duration_since(at))
            .collect();
        let (booth_before, booth_after, dashboard_before, dashboard_after) =
            split_latency(&sent, &receipts, shape.booths, at);
        report.failover = Some(Failover {
            node,
            at: at.saturating_duration_since(started),
            moved,
            back: back.len(),
            all_back_within: (back.len() >= moved)
                .then(|| back.iter().max().copied().unwrap_or_default()),
            interrupted: interrupted.load(std::sync::atomic::Ordering::SeqCst),
            booth_before,
            booth_after,
            dashboard_before,
            dashboard_after,
        });
    }
    report.slow_closes = slow_closes.load(std::sync::atomic::Ordering::SeqCst) - slow_at_connect;
    report.slow_closes_at_connect = slow_at_connect;
    Ok(report)
}

/// Push latencies of the requests sent before and after `kill`: booths', then dashboards'.
fn split_latency(
    sent: &HashMap<(String, &'static str), Instant>,
    receipts: &[Receipt],
    booths: usize,
    kill: Instant,
) -> (Summary, Summary, Summary, Summary) {
    let mut split: [Vec<Duration>; 4] = Default::default();
    for receipt in receipts {
        let Some(kind) = receipt.kind else {
            continue;
        };
        let Some(sent_at) = sent.get(&(receipt.booking_id.clone(), kind)) else {
            continue;
        };
        let which = usize::from(*sent_at >= kill) + 2 * usize::from(receipt.client >= booths);
        split[which].push(receipt.at.saturating_duration_since(*sent_at));
    }
    let [
        mut booth_before,
        mut booth_after,
        mut dash_before,
        mut dash_after,
    ] = split;
    (
        Summary::of(&mut booth_before),
        Summary::of(&mut booth_after),
        Summary::of(&mut dash_before),
        Summary::of(&mut dash_after),
    )
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
    let mut seen: HashMap<(usize, Arc<str>), Vec<u64>> = HashMap::new();
    let mut booth_receipts = 0;
    let mut dashboard_receipts = 0;
    let mut delivered: HashMap<(String, &'static str, bool), usize> = HashMap::new();
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
        let Some(kind) = receipt.kind else {
            continue;
        };
        let key = (receipt.booking_id.clone(), kind);
        if let Some(sent_at) = sent.get(&key) {
            let latency = receipt.at.saturating_duration_since(*sent_at);
            if on_booth {
                booth_latency.push(latency)
            } else {
                dashboard_latency.push(latency)
            }
            *delivered
                .entry((receipt.booking_id.clone(), kind, on_booth))
                .or_default() += 1;
        }
    }
    // Every step's event must reach its booth once and every dashboard once.
    let mut lost = 0;
    for (booking, kind) in sent.keys() {
        let at_booth = delivered
            .get(&(booking.clone(), *kind, true))
            .copied()
            .unwrap_or(0);
        let at_dashboards = delivered
            .get(&(booking.clone(), *kind, false))
            .copied()
            .unwrap_or(0);
        lost += 1usize.saturating_sub(at_booth) + dashboards.saturating_sub(at_dashboards);
    }
    let (mut gaps, mut duplicates, mut redelivered) = (0, 0, 0);
    for ((_, stream), seqs) in &seen {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for seq in seqs {
            *counts.entry(*seq).or_default() += 1;
        }
        let repeats = counts.values().map(|c| c - 1).sum::<usize>();
        // Booth streams are at-least-once (contract §7): an event whose ack was lost with a
        // dropped connection comes again. Anywhere else a repeat is a duplicate.
        if stream.starts_with("booth:") {
            redelivered += repeats;
        } else {
            duplicates += repeats;
        }
        if let (Some(first), Some(last)) = (counts.keys().next(), counts.keys().last()) {
            gaps += (last - first + 1) as usize - counts.len();
        }
    }
    Report {
        lifecycles,
        booth_latency: Summary::of(&mut booth_latency),
        dashboard_latency: Summary::of(&mut dashboard_latency),
        storm: None,
        booth_samples: booth_latency,
        dashboard_samples: dashboard_latency,
        booth_receipts,
        dashboard_receipts,
        lost,
        gaps,
        duplicates,
        redelivered,
        slow_closes: 0,
        slow_closes_at_connect: 0,
        elapsed,
        failover: None,
    }
}
