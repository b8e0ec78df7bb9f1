//! `boothhub-loadtest`: drives a Booth Hub through its public API and measures it.
//!
//! Scenarios: `webhook` (signed payment webhooks, sequential) and `push` (booths and
//! dashboards on WebSockets while lifecycles run; push latency, lost/duplicate events).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;

use boothhub_loadtest::hub::{Hub, LocalHub};
use boothhub_loadtest::push;
use boothhub_loadtest::stats::Summary;

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
        /// Drop this percent of the booths at once and check they come back and resume.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        storm_percent: u32,
        /// Seconds into the run when the storm hits.
        #[arg(long, default_value_t = 5)]
        storm_after: u64,
        /// Write report.json, report.md and latency.svg into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct Target {
    /// Start this `boothhub` binary on a temp data dir and measure it.
    #[arg(long, value_name = "BOOTHHUB_BINARY", conflicts_with = "url")]
    local: Option<PathBuf>,
    /// Or measure a running hub at this URL.
    #[arg(long)]
    url: Option<String>,
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
            booths,
            dashboards,
            rate,
            seconds,
            storm_percent,
            storm_after,
            report,
        } => {
            let shape = push::Shape {
                booths,
                dashboards,
                rate,
                duration: Duration::from_secs(seconds),
                storm_percent,
                storm_after: Duration::from_secs(storm_after),
            };
            push_scenario(target, shape, report).await
        }
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
    let (mut hub, local) = connect(&target).await?;
    hub.login(&target.email, &target.password).await?;
    let (booths, dashboards, rate) = (shape.booths, shape.dashboards, shape.rate);
    let monitor = local
        .as_ref()
        .map(|l| boothhub_loadtest::monitor::Monitor::start(l.pid));
    let report = push::run(&hub, shape).await?;
    let usage = monitor.map(|m| m.stop());
    if let Some(usage) = usage {
        println!(
            "hub process: max RSS {:.0} MiB (at the end {:.0} MiB), CPU {:.0}% of one core on average",
            usage.max_rss_mib, usage.last_rss_mib, usage.cpu_percent
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
    if let Some(dir) = report_dir {
        let run = boothhub_loadtest::report::Run {
            booths,
            dashboards,
            rate,
            hub_rss_mib: usage.map(|u| u.max_rss_mib),
            hub_cpu_percent: usage.map(|u| u.cpu_percent),
        };
        boothhub_loadtest::report::write(&dir, &run, &report)?;
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

async fn connect(target: &Target) -> anyhow::Result<(Hub, Option<LocalHub>)> {
    match (&target.local, &target.url) {
        (Some(binary), _) => {
            let local = LocalHub::start(
                binary,
                &target.email,
                &target.password,
                &target.secret,
                target.scylla.as_deref(),
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
    let (mut hub, local) = connect(&target).await?;
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
