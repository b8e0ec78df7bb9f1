//! The webhook signature flood (contract §6): several loops of anonymous
//! `POST /payment/confirm`, each with a 60 KiB JSON body and an `X-Signature` of `t=<now>` and
//! tens of thousands of `v1=<64 hex>` entries. The hub must refuse each at once, at a cost
//! that does not grow with the header: 401 past 512 bytes or 4 entries, or 431 when the head
//! is over what its HTTP server reads at all. Before the flood, header sizes are tried from
//! the one asked for downwards, to find the largest the hub reads; the flood sends 3/4 of
//! that one (or the one asked for, if the hub reads it).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use super::raw::{self, Conn};
use super::{FLOOD, Outcomes, Tally, Target, attacker};
use crate::hub::unix_now;

/// The flood's JSON body, under the hub's 64 KiB limit so that only the header is at fault.
const BODY_BYTES: usize = 60 * 1024;

/// Requests one loop sends at most.
const MAX_REQUESTS_PER_LOOP: usize = 200_000;

/// How long one header size may take to be answered when tried.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bisections between the largest header read and the smallest refused.
const REFINE_STEPS: usize = 4;

/// Requests per header size tried: a size counts as read when each of them is.
const TRIES: usize = 3;

/// The flood's header, in quarters of the largest the hub was seen to read (when it refused
/// a larger one).
const MARGIN_QUARTERS: usize = 3;

/// One header size tried before the flood.
pub struct Probe {
    pub entries: usize,
    pub header_bytes: usize,
    pub outcome: String,
}

pub struct Report {
    pub loops: usize,
    pub asked_entries: usize,
    pub probes: Vec<Probe>,
    /// The size the flood sent.
    pub entries: usize,
    pub header_bytes: usize,
    pub connections: usize,
    /// By HTTP status, or how the connection ended without one.
    pub outcomes: Outcomes,
    pub elapsed: Duration,
}

/// `t=<now>` and `entries` tags of 64 hex digits.
fn signature(entries: usize) -> String {
    let seed = uuid::Uuid::new_v4().as_u128();
    let mut header = format!("t={}", unix_now());
    for n in 0..entries {
        let _ = write!(header, ",v1={seed:032x}{:032x}", n as u128);
    }
    header
}

/// A payment webhook's fields, padded to exactly [`BODY_BYTES`].
fn body() -> Vec<u8> {
    let fields = |padding: &str| {
        format!(
            r#"{{"event_id":"evt-flood-{}","booking_id":"{}","status":"SUCCESS","amount":50000,"currency":"IDR","padding":"{padding}"}}"#,
            uuid::Uuid::nil().simple(),
            uuid::Uuid::nil()
        )
    };
    let unpadded = fields("").len();
    fields(&"x".repeat(BODY_BYTES.saturating_sub(unpadded))).into_bytes()
}

fn head(signature: &str, body_len: usize) -> Vec<u8> {
    format!(
        "POST /payment/confirm HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\nX-Signature: {signature}\r\n\r\n"
    )
    .into_bytes()
}

/// A header size is read when the hub answers it with anything but 431.
fn read(outcome: &str) -> bool {
    outcome.parse::<u16>().is_ok_and(|status| status != 431)
}

pub async fn run(target: &Target, loops: usize, asked: usize, deadline: Instant) -> Report {
    let started = Instant::now();
    let body = Arc::new(body());
    let (probes, entries) = probe(target, asked, &body, deadline).await;
    let signature = signature(entries);
    let header_bytes = signature.len();
    let head = Arc::new(head(&signature, body.len()));
    eprintln!(
        "  webhook flood: {loops} loops, X-Signature of {entries} entries ({header_bytes} bytes)"
    );
    let tasks: Vec<_> = (0..loops)
        .map(|_| {
            let (address, tls) = (target.address, target.tls.clone());
            let (head, body) = (Arc::clone(&head), Arc::clone(&body));
            tokio::spawn(async move { flood(address, tls, &head, &body, deadline).await })
        })
        .collect();
    let (mut tally, mut connections) = (Tally::default(), 0);
    for task in tasks {
        if let Ok((loop_tally, loop_connections)) = task.await {
            tally.merge(loop_tally);
            connections += loop_connections;
        }
    }
    Report {
        loops,
        asked_entries: asked,
        probes,
        entries,
        header_bytes,
        connections,
        outcomes: tally.finish(),
        elapsed: started.elapsed(),
    }
}

/// Tries header sizes from `asked` down, halving, until the hub reads one; then bisects
/// between that and the smallest it refused. Returns what was tried and the size to flood.
async fn probe(
    target: &Target,
    asked: usize,
    body: &[u8],
    deadline: Instant,
) -> (Vec<Probe>, usize) {
    let mut probes = vec![];
    // A size is read when each of `TRIES` requests is (the first refusal ends the tries).
    let mut try_size = async |entries: usize| {
        let signature = signature(entries);
        let head = head(&signature, body.len());
        let mut outcomes = vec![];
        for _ in 0..TRIES {
            let until = deadline.min(Instant::now() + PROBE_TIMEOUT);
            let outcome = once(target, &head, body, until).await;
            let was_read = read(&outcome);
            outcomes.push(outcome);
            if !was_read {
                break;
            }
        }
        let all_read = outcomes.len() == TRIES && outcomes.iter().all(|o| read(o));
        probes.push(Probe {
            entries,
            header_bytes: signature.len(),
            outcome: outcomes.join(", "),
        });
        all_read
    };
    let (mut largest_read, mut smallest_refused) = (None, None);
    let mut entries = asked.max(1);
    while Instant::now() < deadline {
        if try_size(entries).await {
            largest_read = Some(entries);
            break;
        }
        smallest_refused = Some(entries);
        if entries == 1 {
            break;
        }
        entries /= 2;
    }
    if let (Some(mut low), Some(mut high)) = (largest_read, smallest_refused) {
        for _ in 0..REFINE_STEPS {
            let middle = low + (high - low) / 2;
            if middle == low || Instant::now() >= deadline {
                break;
            }
            if try_size(middle).await {
                low = middle;
            } else {
                high = middle;
            }
        }
        largest_read = Some(low);
    }
    let flooded = match (largest_read, smallest_refused) {
        // Near its limit the hub reads a head or not depending on how it arrived (hyper
        // refuses a head that is still incomplete once its buffer is full, and parses a whole
        // one of any size): flood well below it, where every request is read.
        (Some(read), Some(_)) => (read * MARGIN_QUARTERS / 4).max(1),
        (Some(read), None) => read,
        (None, _) => asked,
    };
    (probes, flooded)
}

/// One request on a fresh connection: the status, or how it failed.
async fn once(target: &Target, head: &[u8], body: &[u8], until: Instant) -> String {
    let attempt = async {
        let mut conn = Conn::open(target.address, attacker(FLOOD, 1), &target.tls)
            .await
            .map_err(|refusal| refusal.label())?;
        let exchange = conn
            .exchange(head, body)
            .await
            .map_err(|err| format!("no answer ({})", raw::kind(&err)))?;
        Ok::<_, String>(exchange.response.status.to_string())
    };
    match timeout_at(until, attempt).await {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => failure,
        Err(_) => "no answer in time".to_owned(),
    }
}

/// One loop: requests back to back, on one connection while the hub keeps it.
async fn flood(
    address: std::net::SocketAddr,
    tls: tokio_rustls::TlsConnector,
    head: &[u8],
    body: &[u8],
    deadline: Instant,
) -> (Tally, usize) {
    let (mut tally, mut connections) = (Tally::default(), 0);
    let mut conn: Option<Conn> = None;
    for _ in 0..MAX_REQUESTS_PER_LOOP {
        let opening = Instant::now();
        if opening >= deadline {
            break;
        }
        let reused = conn.is_some();
        let mut current = match conn.take() {
            Some(current) => current,
            None => match timeout_at(deadline, Conn::open(address, attacker(FLOOD, 1), &tls)).await
            {
                Ok(Ok(opened)) => {
                    connections += 1;
                    opened
                }
                Ok(Err(refusal)) => {
                    tally.record(refusal.label(), opening.elapsed());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => break,
            },
        };
        let sent = Instant::now();
        match timeout_at(deadline, current.exchange(head, body)).await {
            Ok(Ok(exchange)) => {
                tally.record(exchange.response.status.to_string(), sent.elapsed());
                if exchange.reusable() {
                    conn = Some(current);
                }
            }
            Ok(Err(err)) => {
                let on = if reused { "reused" } else { "new" };
                tally.record(
                    format!("no answer ({}, {on} connection)", raw::kind(&err)),
                    sent.elapsed(),
                );
            }
            // In flight when the time was up: not counted.
            Err(_) => break,
        }
    }
    (tally, connections)
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "## Webhook signature flood\n\n{} concurrent loops of anonymous `POST /payment/confirm` with a {} KiB JSON body and an `X-Signature` of `t=<now>` and `v1=<64 hex>` entries ({} asked), for {:.1} s.\n\nHeader sizes tried first, up to {TRIES} times each, each on a fresh connection:\n\n| `v1=` entries | header bytes | answers |\n|---|---|---|\n",
            self.loops,
            BODY_BYTES / 1024,
            self.asked_entries,
            self.elapsed.as_secs_f64()
        );
        for probe in &self.probes {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                probe.entries, probe.header_bytes, probe.outcome
            );
        }
        let _ = write!(
            md,
            "\nFlooded with {} entries ({} header bytes; 3/4 of the largest read when a larger one was refused): {} requests on {} connections ({:.0}/s).\n\n{}",
            self.entries,
            self.header_bytes,
            self.outcomes.total,
            self.connections,
            self.outcomes.total as f64 / self.elapsed.as_secs_f64().max(0.001),
            self.outcomes.markdown("answer")
        );
        md
    }

    pub fn json(&self) -> Value {
        json!({
            "loops": self.loops,
            "body_bytes": BODY_BYTES,
            "asked_entries": self.asked_entries,
            "probes": self.probes.iter().map(|p| json!({
                "entries": p.entries, "header_bytes": p.header_bytes, "answers": p.outcome,
            })).collect::<Vec<_>>(),
            "entries": self.entries,
            "header_bytes": self.header_bytes,
            "connections": self.connections,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests": self.outcomes.json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_sixty_kib_of_json_and_the_header_has_its_entries() {
        let body = body();
        assert_eq!(body.len(), BODY_BYTES);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["status"], "SUCCESS");
        let header = signature(3);
        assert_eq!(header.matches(",v1=").count(), 3);
        assert!(header.starts_with("t="));
        let tag = header.rsplit("v1=").next().unwrap();
        assert_eq!(tag.len(), 64);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(read("401"));
        assert!(!read("431"));
        assert!(!read("no answer (reset)"));
    }
}
