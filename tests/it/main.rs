//! Black-box tests: each starts the real `boothhub serve` (real TLS, real embedded store, a
//! temp data dir) and speaks HTTPS to it as booths, admins and payment providers do.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read the wall clock and the environment"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a broken test setup panics with its message"
)]

mod audit;
mod bad_input;
mod cli;
mod cluster;
mod cql_outage;
mod durability;
mod harness;
mod hostile;
mod lifecycle;
mod loadtest_smoke;
mod login_limits;
mod openapi;
mod prices;
mod protection;
mod rbac;
mod refunds;
mod refusals;
mod revocation;
mod webhook;
mod ws;
mod ws_client;
