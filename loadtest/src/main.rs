//! `boothhub-loadtest`: drives a Booth Hub through its public API and measures it.
//!
//! Scenarios: `webhook` (signed payment webhooks, sequential), `push` (booths and
//! dashboards on WebSockets while lifecycles run; push latency, lost/duplicate events) and
//! `abuse` (the push scenario and honest webhooks while attackers flood, starve and guess).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;

use boothhub_loadtest::hub::{Hub, LocalHub};
use boothhub_loadtest::monitor::{Monitor, Usage};
use boothhub_loadtest::stats::Summary;
use boothhub_loadtest::{abuse, push, report};

#[derive(Parser)]
#[command(
    name = "boothhub-loadtest",
    version,
    about = "Measure a Booth Hub through its API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signed payment webhooks, one after another, each for its own pending booking.
    Webhook {
        #[command(flatten)]
        target: Target,
        /// How many webhooks to send (each needs one booking, provisioned first).
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Write the figures as JSON to this file too.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Booths (MessagePack, acking) and dashboards (JSON) connected while lifecycles run.
    Push {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        traffic: Traffic,
        /// Drop this percent of the booths at once and check they come back and resume.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        storm_percent: u32,
        /// Seconds into the run when the storm hits.
        #[arg(long, default_value_t = 5)]
        storm_after: u64,
        /// With --local and --scylla: run this many hub nodes on one keyspace (contract §8);
        /// clients and requests are spread over them.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=9))]
        nodes: u64,
        /// With --nodes: kill -9 the last node this many seconds into the driving; its
        /// clients move to the other nodes and resume.
        #[arg(long)]
        kill_node_at: Option<u64>,
        /// Write report.json, report.md and latency.svg into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// The push scenario and signed webhooks, measured while attackers run against the same
    /// hub (loopback only): a webhook signature flood, slowloris, a connection burst, a
    /// WebSocket continuation flood and a login brute force. Exits non-zero unless the honest
    /// traffic stays fast and whole and the hub stays within its memory and connections.
    Abuse {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        traffic: Traffic,
        #[command(flatten)]
        attacks: Attacks,
        /// Write report.json, report.md and latency.svg into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// The honest load: booths and dashboards on WebSockets while lifecycles run.
#[derive(clap::Args)]
struct Traffic {
    #[arg(long, default_value_t = 500)]
    booths: usize,
    #[arg(long, default_value_t = 20)]
    dashboards: usize,
    /// Lifecycles started per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds of driving.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

/// The attacks of `abuse` (a count or rate of 0 leaves one out) and the bounds it checks.
#[derive(clap::Args)]
struct Attacks {
    /// Honest signed webhooks per second, alongside the attacks.
    #[arg(long, default_value_t = 10.0)]
    webhook_rate: f64,
    /// Concurrent loops of the webhook signature flood.
    #[arg(long, default_value_t = 4)]
    flood_loops: usize,
    /// `v1=` entries in the flood's X-Signature (fewer if the hub refuses so large a head).
    #[arg(long, default_value_t = 60_000)]
    flood_entries: usize,
    /// Slowloris connections.
    #[arg(long, default_value_t = 50)]
    slowloris: usize,
    /// Seconds between a slowloris connection's header lines.
    #[arg(long, default_value_t = 10)]
    slowloris_every: u64,
    /// Connections opened at once from one address.
    #[arg(long, default_value_t = 400)]
    burst: usize,
    /// WebSockets sending a message of endless 60 KiB fragments.
    #[arg(long, default_value_t = 1)]
    ws_floods: usize,
    /// Login attempts with wrong passwords per second.
    #[arg(long, default_value_t = 50.0)]
    login_rate: f64,
    /// The hub's global connection cap: given to a --local hub, and the base of the
    /// open-file check.
    #[arg(long, default_value_t = 25_000)]
    max_connections: usize,
    /// File descriptors the hub may hold beyond --max-connections (store, listener, logs).
    #[arg(long, default_value_t = 256)]
    fd_margin: usize,
    /// Pass only if push p99 (booths and dashboards) is under this.
    #[arg(long, default_value_t = 20.0)]
    max_push_p99_ms: f64,
    /// Pass only if the honest webhooks' p99 is under this.
    #[arg(long, default_value_t = 10.0)]
    max_webhook_p99_ms: f64,
    /// Pass only if the hub's RSS stays under this.
    #[arg(long, default_value_t = 512.0)]
    max_rss_mib: f64,
    /// With --url: the hub's process id, to read its memory and open files from /proc.
    #[arg(long, conflicts_with = "local")]
    hub_pid: Option<u32>,
}

/// The hub's shipped `rate_limits.login_burst` (config/boothhub.toml): the abuse scenario
/// runs a --local hub with it, where the other scenarios raise it for their own logins.
const SHIPPED_LOGIN_BURST: u32 = 5;

#[derive(clap::Args)]
struct Target {
    /// Start this `boothhub` binary on a temp data dir and measure it.
    #[arg(long, value_name = "BOOTHHUB_BINARY", conflicts_with = "url")]
    local: Option<PathBuf>,
    /// Or measure a running hub at this URL; given several times (the nodes of one hub,
    /// contract §8), `push` spreads its clients and requests over them.
    #[arg(long)]
    url: Vec<String>,
    /// The hub's certificate (PEM) to trust, for --url with a self-signed certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Super admin e-mail (for --url).
    #[arg(long, default_value = "loadtest@boothhub.local")]
    email: String,
    /// Super admin password (for --url).
    #[arg(long, default_value = "loadtest-password")]
    password: String,
    /// With --local: run the hub on the CQL backend at these nodes (a fresh keyspace).
    #[arg(long, value_name = "HOST:PORT,...", requires = "local")]
    scylla: Option<String>,
    /// The webhook secret of the hub (for --url).
    #[arg(long, default_value = "loadtest-webhook-secret-0123456789")]
    secret: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Thousands of sockets need file descriptors; a spawned local hub inherits the limit.
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the open-file limit: {err}");
    }
    match cli.command {
        Command::Webhook {
            target,
            count,
            json,
        } => webhook(target, count, json).await,
        Command::Push {
            target,
            traffic,
            storm_percent,
            storm_after,
            nodes,
            kill_node_at,
            report,
        } => {
            let shape = push::Shape {
                storm_percent,
                storm_after: Duration::from_secs(storm_after),
                ..traffic.shape()
            };
            if nodes > 1 || kill_node_at.is_some() {
                return cluster_scenario(target, shape, nodes as usize, kill_node_at).await;
            }
            if target.url.len() > 1 {
                return urls_scenario(target, shape).await;
            }
            push_scenario(target, shape, report).await
        }
        Command::Abuse {
            target,
            traffic,
            attacks,
            report,
        } => abuse_scenario(target, traffic, attacks, report).await,
    }
}

impl Traffic {
    fn shape(&self) -> push::Shape {
        push::Shape::steady(
            self.booths,
            self.dashboards,
            self.rate,
            Duration::from_secs(self.seconds),
        )
    }
}

async fn push_scenario(
    target: Target,
    shape: push::Shape,
    report_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        shape.booths > 0 && shape.rate > 0.0 && !shape.duration.is_zero(),
        "--booths, --rate and --seconds must be positive"
    );
    let (mut hub, local) = connect(&target, &[]).await?;
    hub.login(&target.email, &target.password).await?;
    let (booths, dashboards, rate) = (shape.booths, shape.dashboards, shape.rate);
    let monitor = local.as_ref().map(|l| Monitor::start(l.pid));
    let report = push::run(std::slice::from_ref(&hub), shape).await?;
    let usage = monitor.map(|m| m.stop());
    print_push(booths, dashboards, &report, usage);
    if let Some(dir) = report_dir {
        let run = report::Run {
            booths,
            dashboards,
            rate,
            hub_rss_mib: usage.map(|u| u.max_rss_mib),
            hub_cpu_percent: usage.map(|u| u.cpu_percent),
            hub_max_fds: usage.map(|u| u.max_fds),
        };
        report::write(&dir, &run, &report)?;
        eprintln!(
            "wrote {}/report.json, report.md and latency.svg",
            dir.display()
        );
    }
    let storm_failed = report.storm.is_some_and(|s| s.all_back_within.is_none());
    drop(local);
    anyhow::ensure!(
        report.lost + report.gaps + report.duplicates == 0,
        "events were lost, skipped or duplicated"
    );
    anyhow::ensure!(!storm_failed, "not every dropped booth came back");
    Ok(())
}

/// The push scenario over several local nodes on one CQL keyspace, one of them killed -9
/// during the run when asked.
async fn cluster_scenario(
    target: Target,
    mut shape: push::Shape,
    nodes: usize,
    kill_at: Option<u64>,
) -> anyhow::Result<()> {
    let (Some(binary), Some(scylla)) = (&target.local, &target.scylla) else {
        anyhow::bail!(
            "--nodes and --kill-node-at need --local and --scylla (a cluster shares a CQL keyspace)"
        );
    };
    anyhow::ensure!(nodes >= 2, "--kill-node-at needs --nodes 2 or more");
    let keyspace = format!("loadtest_{}", uuid::Uuid::new_v4().simple());
    let node_env = |n: usize| {
        vec![
            ("BOOTHHUB_SCYLLA_KEYSPACE", keyspace.clone()),
            (
                "BOOTHHUB_CLUSTER_LISTEN",
                format!("127.0.0.1:{}", 17_501 + n),
            ),
            (
                "BOOTHHUB_CLUSTER_SECRET",
                "loadtest-cluster-secret-0123456789".to_owned(),
            ),
        ]
    };
    let start = |n: usize, extra: Vec<(&'static str, String)>| {
        let mut env = node_env(n);
        env.extend(extra);
        LocalHub::start(
            binary,
            &target.email,
            &target.password,
            &target.secret,
            Some(scylla),
            &env,
        )
    };
    eprintln!("starting {nodes} hub nodes on keyspace {keyspace}…");
    let first = start(0, vec![])?;
    // One certificate for all, so that a client trusts whichever node it lands on.
    let tls = vec![
        ("BOOTHHUB_TLS_CERT", first.cert.display().to_string()),
        (
            "BOOTHHUB_TLS_KEY",
            first.cert.with_file_name("key.pem").display().to_string(),
        ),
    ];
    let mut locals = vec![first];
    for n in 1..nodes {
        locals.push(start(n, tls.clone())?);
    }
    let mut hubs = vec![];
    for local in &locals {
        let mut hub = Hub::new(&local.url, Some(&locals[0].cert), &target.secret)?;
        hub.login(&target.email, &target.password).await?;
        hubs.push(hub);
    }
    if let Some(at) = kill_at {
        let victim = std::sync::Mutex::new(locals.pop());
        shape.kill = Some(push::Kill {
            node: nodes - 1,
            after: Duration::from_secs(at),
            kill: Box::new(move || {
                // Dropping a local hub is kill -9 (and a wait).
                drop(victim.lock().ok().and_then(|mut v| v.take()));
            }),
        });
    }
    let (booths, dashboards) = (shape.booths, shape.dashboards);
    let report = push::run(&hubs, shape).await?;
    print_push(booths, dashboards, &report, None);
    if let Some(failover) = &report.failover {
        println!(
            "\nfailover: node {} killed (-9) at {:.1}s; {} of its {} clients back on another node and resumed{}; {} bookings in its hands not sent again (their lifecycles dropped)",
            failover.node,
            failover.at.as_secs_f64(),
            failover.back,
            failover.moved,
            failover
                .all_back_within
                .map(|t| format!(" within {:.2}s", t.as_secs_f64()))
                .unwrap_or_default(),
            failover.interrupted
        );
        println!(
            "booth push before the kill\n{}\nbooth push after the kill\n{}",
            failover.booth_before.table(),
            failover.booth_after.table()
        );
        println!(
            "dashboard push before the kill\n{}\ndashboard push after the kill\n{}",
            failover.dashboard_before.table(),
            failover.dashboard_after.table()
        );
    }
    drop(locals);
    anyhow::ensure!(
        report.lost + report.gaps + report.duplicates == 0,
        "events were lost, skipped or duplicated"
    );
    anyhow::ensure!(
        report
            .failover
            .as_ref()
            .is_none_or(|f| f.all_back_within.is_some()),
        "not every client of the killed node came back"
    );
    Ok(())
}

/// The push scenario over the running nodes of one hub, given by `--url` several times.
async fn urls_scenario(target: Target, shape: push::Shape) -> anyhow::Result<()> {
    let mut hubs = vec![];
    for url in &target.url {
        let mut hub = Hub::new(url, target.ca.as_deref(), &target.secret)?;
        hub.login(&target.email, &target.password).await?;
        hubs.push(hub);
    }
    let (booths, dashboards) = (shape.booths, shape.dashboards);
    eprintln!("driving {} nodes: {}", hubs.len(), target.url.join(", "));
    let report = push::run(&hubs, shape).await?;
    print_push(booths, dashboards, &report, None);
    anyhow::ensure!(
        report.lost + report.gaps + report.duplicates == 0,
        "events were lost, skipped or duplicated"
    );
    Ok(())
}

/// The figures of a push run, as `push` prints them.
fn print_push(booths: usize, dashboards: usize, report: &push::Report, usage: Option<Usage>) {
    if let Some(usage) = usage {
        println!(
            "hub process: max RSS {:.0} MiB (at the end {:.0} MiB), CPU {:.0}% of one core on average, at most {} open file descriptors",
            usage.max_rss_mib, usage.last_rss_mib, usage.cpu_percent, usage.max_fds
        );
    }
    let elapsed = report.elapsed.as_secs_f64();
    println!(
        "push: {booths} booths, {dashboards} dashboards, {} lifecycles in {elapsed:.1}s ({:.1}/s)",
        report.lifecycles,
        report.lifecycles as f64 / elapsed
    );
    println!(
        "\nbooth: request sent → event received ({} events)\n{}",
        report.booth_receipts,
        report.booth_latency.table()
    );
    println!(
        "dashboards: request sent → event received ({} events)\n{}",
        report.dashboard_receipts,
        report.dashboard_latency.table()
    );
    println!(
        "lost: {}, gaps: {}, duplicates: {}, booth redeliveries: {}, slow-consumer closes (4008, resumed) while measured: {}",
        report.lost, report.gaps, report.duplicates, report.redelivered, report.slow_closes
    );
    if let Some(storm) = report.storm {
        match storm.all_back_within {
            Some(within) => println!(
                "storm: {} booths dropped, all back and resumed within {:.2}s",
                storm.dropped,
                within.as_secs_f64()
            ),
            None => println!(
                "storm: {} booths dropped, only {} came back",
                storm.dropped, storm.resumed
            ),
        }
    }
}

async fn abuse_scenario(
    target: Target,
    traffic: Traffic,
    attacks: Attacks,
    report_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        traffic.booths > 0 && traffic.rate > 0.0 && traffic.seconds > 0,
        "--booths, --rate and --seconds must be positive"
    );
    anyhow::ensure!(
        attacks.webhook_rate > 0.0,
        "--webhook-rate must be positive: the honest webhooks are measured"
    );
    let hub_env = [
        ("BOOTHHUB_RATE_LOGIN_BURST", SHIPPED_LOGIN_BURST.to_string()),
        (
            "BOOTHHUB_HTTP_MAX_CONNECTIONS",
            attacks.max_connections.to_string(),
        ),
    ];
    let (mut hub, local) = connect(&target, &hub_env).await?;
    hub.login(&target.email, &target.password).await?;
    let pid = local.as_ref().map(|l| l.pid).or(attacks.hub_pid);
    anyhow::ensure!(
        pid.is_some(),
        "give --local, or --hub-pid with --url: the hub's memory and open files are checked"
    );
    let monitor = pid.map(Monitor::start);
    let plan = abuse::Plan {
        duration: Duration::from_secs(traffic.seconds),
        webhook_rate: attacks.webhook_rate,
        flood_loops: attacks.flood_loops,
        flood_entries: attacks.flood_entries,
        slowloris: attacks.slowloris,
        slowloris_every: Duration::from_secs(attacks.slowloris_every.max(1)),
        burst: attacks.burst,
        ws_floods: attacks.ws_floods,
        login_rate: attacks.login_rate,
    };
    let prepared = abuse::prepare(&hub, &plan).await?;
    // The attacks start with the measured part of the push run.
    let (driving, drive_started) = tokio::sync::oneshot::channel();
    let shape = push::Shape {
        driving: Some(driving),
        ..traffic.shape()
    };
    let attackers = tokio::spawn(async move {
        drive_started.await?;
        eprintln!("attacking alongside for {:?}…", plan.duration);
        abuse::run(prepared, plan).await
    });
    let push_report = push::run(std::slice::from_ref(&hub), shape).await?;
    let abuse_report = attackers.await??;
    let usage = monitor.map(|m| m.stop());

    print_push(traffic.booths, traffic.dashboards, &push_report, usage);
    println!("\n{}", abuse_report.markdown());
    let limits = abuse::Limits {
        push_p99: Duration::from_secs_f64(attacks.max_push_p99_ms / 1000.0),
        webhook_p99: Duration::from_secs_f64(attacks.max_webhook_p99_ms / 1000.0),
        rss_mib: attacks.max_rss_mib,
        fds: attacks.max_connections + attacks.fd_margin,
    };
    let checks = abuse::checks(&push_report, &abuse_report, usage, &limits);
    let verdict = abuse::checks_markdown(&checks);
    println!("## Checks\n\n{verdict}");
    if let Some(dir) = report_dir {
        let run = report::Run {
            booths: traffic.booths,
            dashboards: traffic.dashboards,
            rate: traffic.rate,
            hub_rss_mib: usage.map(|u| u.max_rss_mib),
            hub_cpu_percent: usage.map(|u| u.cpu_percent),
            hub_max_fds: usage.map(|u| u.max_fds),
        };
        let mut json = report::json(&run, &push_report);
        json["scenario"] = "abuse".into();
        json["attacks"] = abuse_report.json();
        json["checks"] = abuse::checks_json(&checks);
        let markdown = format!(
            "# Booth Hub abuse run\n\n## Checks\n\n{verdict}\n## Honest traffic: the push scenario\n\n{}\n{}",
            report::push_section(&run, &push_report),
            abuse_report.markdown()
        );
        report::write_files(&dir, &json, &markdown, &push_report)?;
        eprintln!(
            "wrote {}/report.json, report.md and latency.svg",
            dir.display()
        );
    }
    drop(local);
    let failed = checks.iter().filter(|c| !c.pass).count();
    anyhow::ensure!(failed == 0, "{failed} of {} checks failed", checks.len());
    Ok(())
}

/// Connects to the hub `target` names; a --local hub is started with `hub_env` set.
async fn connect(
    target: &Target,
    hub_env: &[(&str, String)],
) -> anyhow::Result<(Hub, Option<LocalHub>)> {
    match (&target.local, target.url.first()) {
        (Some(binary), _) => {
            let local = LocalHub::start(
                binary,
                &target.email,
                &target.password,
                &target.secret,
                target.scylla.as_deref(),
                hub_env,
            )?;
            let hub = Hub::new(&local.url, Some(&local.cert), &target.secret)?;
            Ok((hub, Some(local)))
        }
        (None, Some(url)) => Ok((Hub::new(url, target.ca.as_deref(), &target.secret)?, None)),
        (None, None) => {
            anyhow::bail!("give --local <boothhub binary> or --url <https://host:port>")
        }
    }
}

async fn webhook(target: Target, count: usize, json_out: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::ensure!(count > 0, "--count must be at least 1");
    let (mut hub, local) = connect(&target, &[]).await?;
    hub.login(&target.email, &target.password).await?;
    let outlet = hub.create_outlet("Loadtest Mall").await?;
    let (booth, _) = hub.create_booth(&outlet, "Loadtest Booth").await?;

    eprintln!("provisioning {count} bookings…");
    let mut bookings = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count {
        // One booth, one booking per 15-minute slot, all in the future.
        let minutes = 60 + 15 * n as i64;
        bookings.push(hub.create_booking(&outlet, &booth, minutes).await?);
        if (n + 1) % 500 == 0 {
            eprintln!(
                "  {} bookings ({:.1}s)",
                n + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }

    eprintln!("sending {count} signed webhooks one after another…");
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for (n, (id, amount)) in bookings.iter().enumerate() {
        let body = json!({
            "event_id": format!("evt-loadtest-{}", uuid::Uuid::new_v4()),
            "booking_id": id,
            "status": "SUCCESS",
            "amount": amount,
            "currency": "IDR",
        });
        let sent = Instant::now();
        let status = hub.send_webhook(&body).await?;
        latencies.push(sent.elapsed());
        anyhow::ensure!(status == 200, "webhook {n} answered {status}");
    }
    let elapsed = started.elapsed();
    let summary = Summary::of(&mut latencies);
    println!(
        "webhook latency, {count} sequential requests in {:.2}s ({:.0}/s):",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    println!("{}", summary.table());
    if let Some(path) = json_out {
        let report = json!({ "scenario": "webhook-sequential", "count": count, "elapsed_s": elapsed.as_secs_f64(), "latency_ms": summary.json() });
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    drop(local);
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
