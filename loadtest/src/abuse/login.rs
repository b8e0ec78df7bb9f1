//! The login brute force (contract §2): `POST /auth/login` with a real admin's e-mail and
//! wrong passwords, and now and then a random e-mail, at a steady rate from a few addresses
//! taken in turn. The hub must answer 429 once the account has had its failures (10 in
//! 15 min) and once an address has had its attempts, and run no more password checks at a
//! time than it has cores.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};

use super::{LOGIN, Outcomes, Tally, Target, attacker};

/// Addresses the attempts come from, in turn.
const ADDRESSES: u8 = 4;

/// Every this many attempts one is for a random e-mail.
const RANDOM_EVERY: usize = 4;

/// Attempts at most.
const MAX_ATTEMPTS: usize = 100_000;

pub struct Report {
    pub rate: f64,
    pub admin_email: String,
    /// Attempts on the real admin's e-mail, by status.
    pub admin: Outcomes,
    /// Attempts on random e-mails, by status.
    pub random: Outcomes,
    /// The admin-e-mail attempt (1-based) that first met 429.
    pub first_admin_429: Option<usize>,
}

pub async fn run(target: &Target, rate: f64, deadline: Instant) -> anyhow::Result<Report> {
    let clients = (1..=ADDRESSES)
        .map(|n| target.hub.client_from(attacker(LOGIN, n)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let url = format!("{}/auth/login", target.hub.base());
    let (mut admin, mut random) = (Tally::default(), Tally::default());
    let (mut admin_attempts, mut first_admin_429) = (0, None);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for attempt in 0..MAX_ATTEMPTS {
        ticker.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        let on_admin = attempt % RANDOM_EVERY != RANDOM_EVERY - 1;
        let email = if on_admin {
            target.admin_email.clone()
        } else {
            format!("guess-{}@example.com", uuid::Uuid::new_v4().simple())
        };
        let body = json!({ "email": email, "password": format!("wrong-password-{attempt}") });
        let client = &clients[attempt % clients.len()];
        let sent = Instant::now();
        let answer = tokio::time::timeout_at(deadline, client.post(&url).json(&body).send()).await;
        let outcome = match answer {
            Err(_) => break,
            Ok(Ok(response)) => response.status().as_u16().to_string(),
            Ok(Err(err)) => format!("error: {err}"),
        };
        if on_admin {
            admin_attempts += 1;
            if outcome == "429" && first_admin_429.is_none() {
                first_admin_429 = Some(admin_attempts);
            }
            admin.record(outcome, sent.elapsed());
        } else {
            random.record(outcome, sent.elapsed());
        }
    }
    Ok(Report {
        rate,
        admin_email: target.admin_email.clone(),
        admin: admin.finish(),
        random: random.finish(),
        first_admin_429,
    })
}

impl Report {
    pub fn markdown(&self) -> String {
        let first = self
            .first_admin_429
            .map_or_else(|| "never".to_owned(), |n| format!("at attempt {n}"));
        format!(
            "## Login brute force\n\n`POST /auth/login` with wrong passwords, {:.0} a second, one after another, from {ADDRESSES} addresses in turn; every {RANDOM_EVERY}th attempt for a random e-mail, the others for a real admin (`{}`). The admin's e-mail first met 429 {first}.\n\nThe admin's e-mail:\n\n{}\nRandom e-mails:\n\n{}",
            self.rate,
            self.admin_email,
            self.admin.markdown("answer"),
            self.random.markdown("answer")
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "rate": self.rate,
            "addresses": ADDRESSES,
            "admin_email": self.admin_email,
            "admin": self.admin.json(),
            "random_emails": self.random.json(),
            "first_admin_429_at_attempt": self.first_admin_429,
        })
    }
}
