//! The abuse scenario (issue #11): the attacks of contract §2 "Hostile clients", §6 and §7 run
//! against a hub while honest traffic (the push scenario, and signed payment webhooks) is
//! measured. The attacks: a webhook signature flood, slowloris and a connection burst, a
//! WebSocket continuation flood and a login brute force. Each is bounded in count and time,
//! stops by itself, and connects from its own loopback address (127.66.x.y), so that the
//! hub's per-address limits meet the attacker and not the honest clients (127.0.x.y).
//! Must not: attack anything but a hub on a loopback address.

mod flood;
mod login;
mod raw;
mod slowloris;
mod webhooks;
mod ws_flood;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::hub::Hub;
use crate::monitor::Usage;
use crate::socket;
use crate::stats::Summary;

/// What the attacks do, and how long.
pub struct Plan {
    /// How long the honest webhooks and every attack run (from the push run's drive on).
    pub duration: Duration,
    /// Signed payment webhooks per second, each for its own pending booking.
    pub webhook_rate: f64,
    /// Concurrent loops of the webhook signature flood (0: no flood).
    pub flood_loops: usize,
    /// `v1=` entries in the flood's `X-Signature` (fewer if the hub refuses so large a head).
    pub flood_entries: usize,
    /// Slowloris connections (0: none).
    pub slowloris: usize,
    /// How often a slowloris connection sends its next header line.
    pub slowloris_every: Duration,
    /// Connections opened at once from one address (0: no burst).
    pub burst: usize,
    /// WebSockets sending endless fragments, one after another (0: none).
    pub ws_floods: usize,
    /// Login attempts per second with wrong passwords (0: none).
    pub login_rate: f64,
}

/// The loopback address attack `attack` connects from (its `n`th).
fn attacker(attack: u8, n: u8) -> IpAddr {
    IpAddr::from([127, 66, attack, n])
}

const FLOOD: u8 = 1;
const SLOWLORIS: u8 = 2;
const BURST: u8 = 3;
const WS_FLOOD: u8 = 4;
const LOGIN: u8 = 5;

/// What the attacks need, provisioned through the API before the run.
pub struct Target {
    hub: Hub,
    address: SocketAddr,
    tls: TlsConnector,
    /// The token of a booth of its own outlet, which the WebSocket flood authenticates with.
    booth_token: String,
    /// A real admin, whose password the brute force guesses.
    admin_email: String,
    /// Pending bookings for the honest webhooks.
    bookings: Vec<(String, i64)>,
}

/// Creates an outlet of its own ("Abuse Mall", so that the push run's dashboards see none of
/// this), a booth, an admin and the honest webhooks' bookings. Refuses a hub that is not on
/// a loopback address.
pub async fn prepare(hub: &Hub, plan: &Plan) -> anyhow::Result<Target> {
    let address = socket::address(hub.base()).await?;
    anyhow::ensure!(
        address.ip().is_loopback(),
        "the abuse scenario attacks only a hub on a loopback address, not {address}"
    );
    let outlet = hub.create_outlet("Abuse Mall").await?;
    let (_, booth_token) = hub.create_booth(&outlet, "Flood Booth").await?;
    let admin_email = format!("abuse-{}@boothhub.local", uuid::Uuid::new_v4().simple());
    let password = format!("the-real-password-{}", uuid::Uuid::new_v4().simple());
    hub.create_admin(&outlet, &admin_email, &password).await?;
    let count = (plan.webhook_rate * plan.duration.as_secs_f64()).ceil() as usize;
    let bookings = webhooks::provision(hub, &outlet, count).await?;
    Ok(Target {
        hub: hub.clone(),
        address,
        tls: socket::tls(hub.ca.as_deref())?,
        booth_token,
        admin_email,
        bookings,
    })
}

/// What every attack and the honest webhooks saw.
pub struct Report {
    pub webhooks: webhooks::Report,
    pub flood: Option<flood::Report>,
    pub slowloris: Option<slowloris::Report>,
    pub burst: Option<slowloris::Burst>,
    pub ws_flood: Option<ws_flood::Report>,
    pub login: Option<login::Report>,
}

/// Runs the honest webhooks and every attack of `plan` at once, until `plan.duration` is up.
///
/// The attacks run on a runtime of their own, one thread: sharing the tool's runtime, the
/// honest clients' timings also counted the time their tasks waited in the tool behind
/// attack tasks (the flood alone encrypts over 1 GB/s). They still share the machine's cores
/// with the hub and the honest clients, as on one machine they must.
pub async fn run(target: Target, plan: Plan) -> anyhow::Result<Report> {
    let deadline = Instant::now() + plan.duration;
    let target = std::sync::Arc::new(target);
    let attackers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("attacker")
        .enable_all()
        .build()?;
    let honest = {
        let target = std::sync::Arc::clone(&target);
        let bookings = target.bookings.clone();
        let rate = plan.webhook_rate;
        tokio::spawn(async move { webhooks::run(&target.hub, bookings, rate, deadline).await })
    };
    let flood = (plan.flood_loops > 0).then(|| {
        let target = std::sync::Arc::clone(&target);
        let (loops, entries) = (plan.flood_loops, plan.flood_entries);
        attackers.spawn(async move { flood::run(&target, loops, entries, deadline).await })
    });
    let slowloris = (plan.slowloris > 0).then(|| {
        let target = std::sync::Arc::clone(&target);
        let (count, every) = (plan.slowloris, plan.slowloris_every);
        attackers.spawn(async move { slowloris::run(&target, count, every, deadline).await })
    });
    let burst = (plan.burst > 0).then(|| {
        let target = std::sync::Arc::clone(&target);
        let count = plan.burst;
        attackers.spawn(async move { slowloris::burst(&target, count, deadline).await })
    });
    let ws_flood = (plan.ws_floods > 0).then(|| {
        let target = std::sync::Arc::clone(&target);
        let count = plan.ws_floods;
        attackers.spawn(async move { ws_flood::run(&target, count, deadline).await })
    });
    let login = (plan.login_rate > 0.0).then(|| {
        let target = std::sync::Arc::clone(&target);
        let rate = plan.login_rate;
        attackers.spawn(async move { login::run(&target, rate, deadline).await })
    });
    let report = async {
        Ok(Report {
            webhooks: honest.await?,
            flood: joined(flood).await?,
            slowloris: joined(slowloris).await?,
            burst: joined(burst).await?,
            ws_flood: joined(ws_flood).await?,
            login: joined(login).await?.transpose()?,
        })
    }
    .await;
    // Dropping a runtime may block, which an async context must not do.
    attackers.shutdown_background();
    report
}

async fn joined<T>(
    task: Option<tokio::task::JoinHandle<T>>,
) -> Result<Option<T>, tokio::task::JoinError> {
    match task {
        Some(task) => task.await.map(Some),
        None => Ok(None),
    }
}

/// Outcomes of requests or connections, counted by what happened ("401", "reset", …), with
/// the latency of each.
#[derive(Default)]
pub struct Tally {
    counts: BTreeMap<String, usize>,
    latencies: Vec<Duration>,
}

impl Tally {
    pub fn record(&mut self, outcome: impl Into<String>, latency: Duration) {
        *self.counts.entry(outcome.into()).or_default() += 1;
        self.latencies.push(latency);
    }

    pub fn merge(&mut self, other: Tally) {
        for (outcome, count) in other.counts {
            *self.counts.entry(outcome).or_default() += count;
        }
        self.latencies.extend(other.latencies);
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// Counted and summarised, for the report.
    pub fn finish(mut self) -> Outcomes {
        Outcomes {
            total: self.total(),
            latency: Summary::of(&mut self.latencies),
            counts: self.counts,
        }
    }
}

/// A finished [`Tally`].
pub struct Outcomes {
    pub total: usize,
    pub counts: BTreeMap<String, usize>,
    pub latency: Summary,
}

impl Outcomes {
    pub fn count(&self, outcome: &str) -> usize {
        self.counts.get(outcome).copied().unwrap_or(0)
    }

    /// `| what | count |` rows, then the latency table.
    pub fn markdown(&self, what: &str) -> String {
        let mut md = format!("| {what} | count |\n|---|---|\n");
        for (outcome, count) in &self.counts {
            let _ = writeln!(md, "| {outcome} | {count} |");
        }
        if self.total > 0 {
            let _ = write!(md, "\nlatency:\n\n{}", self.latency.table());
        }
        md
    }

    pub fn json(&self) -> Value {
        json!({ "total": self.total, "counts": self.counts, "latency_ms": self.latency.json() })
    }
}

/// Durations summarised as `n: min / p50 / max s`.
fn spread(durations: &[Duration]) -> String {
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    match (sorted.first(), sorted.last()) {
        (Some(min), Some(max)) => format!(
            "{}: {:.1} / {:.1} / {:.1} s (min / median / max)",
            sorted.len(),
            min.as_secs_f64(),
            sorted[sorted.len() / 2].as_secs_f64(),
            max.as_secs_f64()
        ),
        _ => "none".to_owned(),
    }
}

fn seconds(durations: &[Duration]) -> Vec<f64> {
    durations.iter().map(Duration::as_secs_f64).collect()
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "## Honest payment webhooks\n\n{} signed `SUCCESS` webhooks, each for its own pending booking, one after another while the attacks ran: {} answered 200.\n\n{}",
            self.webhooks.outcomes.total,
            self.webhooks.outcomes.count("200"),
            self.webhooks.outcomes.markdown("answer")
        );
        let sections = [
            self.flood.as_ref().map(flood::Report::markdown),
            self.slowloris.as_ref().map(slowloris::Report::markdown),
            self.burst.as_ref().map(slowloris::Burst::markdown),
            self.ws_flood.as_ref().map(ws_flood::Report::markdown),
            self.login.as_ref().map(login::Report::markdown),
        ];
        for section in sections.into_iter().flatten() {
            let _ = writeln!(md, "{section}");
        }
        md
    }

    pub fn json(&self) -> Value {
        json!({
            "honest_webhooks": self.webhooks.outcomes.json(),
            "webhook_flood": self.flood.as_ref().map(flood::Report::json),
            "slowloris": self.slowloris.as_ref().map(slowloris::Report::json),
            "burst": self.burst.as_ref().map(slowloris::Burst::json),
            "ws_continuation_flood": self.ws_flood.as_ref().map(ws_flood::Report::json),
            "login_brute_force": self.login.as_ref().map(login::Report::json),
        })
    }
}

/// The bounds an abuse run passes under.
pub struct Limits {
    pub push_p99: Duration,
    pub webhook_p99: Duration,
    pub rss_mib: f64,
    /// The hub's global connection cap plus a margin for its own files.
    pub fds: usize,
}

/// One pass/fail line of the run.
pub struct Check {
    pub name: &'static str,
    pub value: String,
    pub limit: String,
    pub pass: bool,
}

/// The run's verdict: honest traffic as fast and whole as without the attacks, and the hub
/// within its memory and connection bounds.
pub fn checks(
    push: &crate::push::Report,
    abuse: &Report,
    usage: Option<Usage>,
    limits: &Limits,
) -> Vec<Check> {
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    let under = |d: Duration| format!("< {}", ms(d));
    let webhooks = &abuse.webhooks.outcomes;
    let webhooks_ok = webhooks.count("200");
    let mut checks = vec![
        Check {
            name: "push p99 at the booths",
            value: ms(push.booth_latency.p99),
            limit: under(limits.push_p99),
            pass: push.booth_latency.p99 < limits.push_p99,
        },
        Check {
            name: "push p99 at the dashboards",
            value: ms(push.dashboard_latency.p99),
            limit: under(limits.push_p99),
            pass: push.dashboard_latency.p99 < limits.push_p99,
        },
        Check {
            name: "honest webhook p99",
            value: ms(webhooks.latency.p99),
            limit: under(limits.webhook_p99),
            pass: webhooks.total > 0 && webhooks.latency.p99 < limits.webhook_p99,
        },
        Check {
            name: "honest webhooks answered 200",
            value: format!("{webhooks_ok} of {}", webhooks.total),
            limit: "all".to_owned(),
            pass: webhooks.total > 0 && webhooks_ok == webhooks.total,
        },
        Check {
            name: "events lost, gaps, duplicates",
            value: format!("{}, {}, {}", push.lost, push.gaps, push.duplicates),
            limit: "0, 0, 0".to_owned(),
            pass: push.lost + push.gaps + push.duplicates == 0,
        },
    ];
    let (rss, fds) = match usage {
        Some(usage) => (
            (
                format!("{:.0} MiB", usage.max_rss_mib),
                usage.max_rss_mib < limits.rss_mib,
            ),
            (usage.max_fds.to_string(), usage.max_fds < limits.fds),
        ),
        None => (
            ("not measured".to_owned(), false),
            ("not measured".to_owned(), false),
        ),
    };
    checks.push(Check {
        name: "hub max RSS",
        value: rss.0,
        limit: format!("< {:.0} MiB", limits.rss_mib),
        pass: rss.1,
    });
    checks.push(Check {
        name: "hub max open file descriptors",
        value: fds.0,
        limit: format!("< {}", limits.fds),
        pass: fds.1,
    });
    checks
}

/// The checks as a table.
pub fn checks_markdown(checks: &[Check]) -> String {
    let mut md = String::from("| check | measured | limit | result |\n|---|---|---|---|\n");
    for check in checks {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            check.name,
            check.value,
            check.limit,
            if check.pass { "pass" } else { "FAIL" }
        );
    }
    md
}

pub fn checks_json(checks: &[Check]) -> Value {
    Value::Array(
        checks
            .iter()
            .map(|c| json!({ "check": c.name, "measured": c.value, "limit": c.limit, "pass": c.pass }))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_outcomes_and_summarises_latency() {
        let mut tally = Tally::default();
        tally.record("401", Duration::from_millis(2));
        tally.record("401", Duration::from_millis(4));
        let mut other = Tally::default();
        other.record("reset", Duration::from_millis(9));
        tally.merge(other);
        let outcomes = tally.finish();
        assert_eq!(outcomes.total, 3);
        assert_eq!(outcomes.count("401"), 2);
        assert_eq!(outcomes.count("reset"), 1);
        assert_eq!(outcomes.count("200"), 0);
        assert_eq!(outcomes.latency.max, Duration::from_millis(9));
        assert!(outcomes.markdown("answer").contains("| 401 | 2 |"));
    }

    #[test]
    fn attackers_are_not_honest_addresses() {
        assert_eq!(attacker(FLOOD, 1), IpAddr::from([127, 66, 1, 1]));
        for index in [0, 199, 200, 60_000] {
            assert_ne!(socket::source(index, 200), attacker(FLOOD, 1));
        }
        assert_eq!(spread(&[]), "none");
        assert!(spread(&[Duration::from_secs(10), Duration::from_secs(11)]).starts_with("2: 10.0"));
    }
}
