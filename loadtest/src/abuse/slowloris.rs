//! Slowloris and a connection burst (contract §2 "Hostile clients"). Slowloris: TLS
//! connections that send a request line and then one header line now and then, never ending
//! the head; the hub must close each ~10 s after it opened (each closed one is opened again
//! until the time is up). The burst: more connections at once from one address than the hub
//! admits from an address that has not authenticated (256); the rest must be refused, and the
//! admitted ones, silent, closed after the head timeout.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::raw::{self, Conn};
use super::{BURST, SLOWLORIS, Target, attacker, seconds, spread};

/// Connections one slowloris slot opens at most.
const MAX_OPENS_PER_SLOT: usize = 1000;

/// How long a refused slowloris slot waits before it tries again.
const RETRY_AFTER_REFUSAL: Duration = Duration::from_millis(250);

/// The longest a burst holds its connections.
const BURST_HOLD: Duration = Duration::from_secs(30);

/// How one connection ended.
enum End {
    /// The hub closed it, `after` its TCP connect; with the status it answered first, if any.
    Closed {
        after: Duration,
        status: Option<u16>,
    },
    /// Still open when the time was up.
    Open { after: Duration },
}

/// Reads what the hub sends until it closes: the status of an answer (a 408) if one comes.
async fn until_closed<R: AsyncRead + Unpin>(reader: &mut R) -> Option<u16> {
    let mut first = vec![];
    let mut buffer = [0u8; 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) if first.len() < 64 => first.extend_from_slice(&buffer[..read]),
            Ok(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&first);
    raw::status_of(text.lines().next().unwrap_or_default())
}

/// Writes the request line and `Host`, then one more header line every `every`, never the
/// blank line that ends the head; returns when a write fails.
async fn trickle<W: AsyncWrite + Unpin>(writer: &mut W, every: Duration) -> std::io::Error {
    let mut line = b"POST /payment/confirm HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for n in 1u64.. {
        let written = async {
            writer.write_all(&line).await?;
            writer.flush().await
        };
        if let Err(err) = written.await {
            return err;
        }
        tokio::time::sleep(every).await;
        line = format!("X-Slow-{n}: {n}\r\n").into_bytes();
    }
    std::io::ErrorKind::Other.into()
}

pub struct Report {
    pub connections: usize,
    pub every: Duration,
    pub opened: usize,
    /// TCP connected and TLS completed.
    pub accepted: usize,
    /// Refused, by how ("closed during TLS handshake (eof)" …).
    pub refused: std::collections::BTreeMap<String, usize>,
    /// How long each connection the hub closed had stayed open.
    pub closed_after: Vec<Duration>,
    /// Answers the hub sent before closing, by status.
    pub answers: std::collections::BTreeMap<u16, usize>,
    /// Connections still open at the end, and for how long they had been.
    pub open_at_end: Vec<Duration>,
}

pub async fn run(target: &Target, count: usize, every: Duration, deadline: Instant) -> Report {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (address, tls) = (target.address, target.tls.clone());
            tokio::spawn(async move {
                let mut ends = vec![];
                let mut refused = vec![];
                for _ in 0..MAX_OPENS_PER_SLOT {
                    if Instant::now() >= deadline {
                        break;
                    }
                    match slow(address, &tls, every, deadline).await {
                        Ok(end) => ends.push(end),
                        Err(refusal) => {
                            refused.push(refusal.label());
                            tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                        }
                    }
                }
                (ends, refused)
            })
        })
        .collect();
    let mut report = Report {
        connections: count,
        every,
        opened: 0,
        accepted: 0,
        refused: Default::default(),
        closed_after: vec![],
        answers: Default::default(),
        open_at_end: vec![],
    };
    for task in tasks {
        let Ok((ends, refused)) = task.await else {
            continue;
        };
        report.opened += ends.len() + refused.len();
        report.accepted += ends.len();
        for label in refused {
            *report.refused.entry(label).or_default() += 1;
        }
        for end in ends {
            match end {
                End::Closed { after, status } => {
                    report.closed_after.push(after);
                    if let Some(status) = status {
                        *report.answers.entry(status).or_default() += 1;
                    }
                }
                End::Open { after } => report.open_at_end.push(after),
            }
        }
    }
    report
}

/// One slowloris connection, until the hub closes it or the time is up.
async fn slow(
    address: std::net::SocketAddr,
    tls: &tokio_rustls::TlsConnector,
    every: Duration,
    deadline: Instant,
) -> Result<End, raw::Refusal> {
    let opened = Instant::now();
    let Conn {
        mut reader,
        mut writer,
    } = Conn::open(address, attacker(SLOWLORIS, 1), tls).await?;
    let closed = until_closed(&mut reader);
    tokio::pin!(closed);
    Ok(tokio::select! {
        status = &mut closed => End::Closed { after: opened.elapsed(), status },
        _ = trickle(&mut writer, every) => {
            // The hub closed it: read what it said first, if anything.
            let after = opened.elapsed();
            let status = tokio::time::timeout(Duration::from_secs(1), &mut closed).await;
            End::Closed { after, status: status.ok().flatten() }
        }
        () = tokio::time::sleep_until(deadline) => End::Open { after: opened.elapsed() },
    })
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "## Slowloris\n\n{} TLS connections at a time, each sending `POST /payment/confirm HTTP/1.1`, `Host` and then one more header line every {:.0} s, never ending the head (a closed one is opened again).\n\n",
            self.connections,
            self.every.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| | |\n|---|---|\n| connections tried | {} |\n| accepted (TLS completed) | {} |\n| closed by the hub, open for | {} |\n| still open at the end, open for | {} |",
            self.opened,
            self.accepted,
            spread(&self.closed_after),
            spread(&self.open_at_end)
        );
        for (label, count) in &self.refused {
            let _ = writeln!(md, "| {label} | {count} |");
        }
        for (status, count) in &self.answers {
            let _ = writeln!(md, "| answered {status} before closing | {count} |");
        }
        md
    }

    pub fn json(&self) -> Value {
        json!({
            "connections": self.connections,
            "header_every_s": self.every.as_secs_f64(),
            "opened": self.opened,
            "accepted": self.accepted,
            "refused": self.refused,
            "closed_by_hub_after_s": seconds(&self.closed_after),
            "answers": self.answers,
            "open_at_end_after_s": seconds(&self.open_at_end),
        })
    }
}

pub struct Burst {
    pub attempted: usize,
    pub accepted: usize,
    pub refused: std::collections::BTreeMap<String, usize>,
    /// How long each accepted connection lasted before the hub closed it.
    pub closed_after: Vec<Duration>,
    pub open_at_end: Vec<Duration>,
}

/// Opens `count` connections at once from one address and holds them, silent, until the hub
/// closes them or [`BURST_HOLD`] (or the run) is over.
pub async fn burst(target: &Target, count: usize, deadline: Instant) -> Burst {
    let hold_until = deadline.min(Instant::now() + BURST_HOLD);
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (address, tls) = (target.address, target.tls.clone());
            tokio::spawn(async move {
                let opened = Instant::now();
                let attempt = Conn::open(address, attacker(BURST, 1), &tls);
                let mut conn = match timeout_at(hold_until, attempt).await {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(refusal)) => return Err(refusal.label()),
                    Err(_) => return Err("no TLS handshake in time".to_owned()),
                };
                match timeout_at(hold_until, until_closed(&mut conn.reader)).await {
                    Ok(status) => Ok(End::Closed {
                        after: opened.elapsed(),
                        status,
                    }),
                    Err(_) => Ok(End::Open {
                        after: opened.elapsed(),
                    }),
                }
            })
        })
        .collect();
    let mut report = Burst {
        attempted: count,
        accepted: 0,
        refused: Default::default(),
        closed_after: vec![],
        open_at_end: vec![],
    };
    for task in tasks {
        match task.await {
            Ok(Ok(End::Closed { after, .. })) => {
                report.accepted += 1;
                report.closed_after.push(after);
            }
            Ok(Ok(End::Open { after })) => {
                report.accepted += 1;
                report.open_at_end.push(after);
            }
            Ok(Err(label)) => *report.refused.entry(label).or_default() += 1,
            Err(_) => *report.refused.entry("task failed".to_owned()).or_default() += 1,
        }
    }
    report
}

impl Burst {
    pub fn refused(&self) -> usize {
        self.refused.values().sum()
    }

    pub fn markdown(&self) -> String {
        let mut md = format!(
            "## Connection burst\n\n{} TLS connections opened at once from one address, then held silent (at most {} s).\n\n| | |\n|---|---|\n| accepted (TLS completed) | {} |\n| refused | {} |\n",
            self.attempted,
            BURST_HOLD.as_secs(),
            self.accepted,
            self.refused()
        );
        for (label, count) in &self.refused {
            let _ = writeln!(md, "| {label} | {count} |");
        }
        let _ = writeln!(
            md,
            "| accepted, closed by the hub after | {} |\n| accepted, still open at the end after | {} |",
            spread(&self.closed_after),
            spread(&self.open_at_end)
        );
        md
    }

    pub fn json(&self) -> Value {
        json!({
            "attempted": self.attempted,
            "accepted": self.accepted,
            "refused": self.refused,
            "closed_by_hub_after_s": seconds(&self.closed_after),
            "open_at_end_after_s": seconds(&self.open_at_end),
        })
    }
}
