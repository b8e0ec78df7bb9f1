//! The `boothhub` process: configuration, TLS, telemetry and the HTTP API, translating between
//! the wire and the hub of `boothhub-actors`. It decides nothing about bookings itself.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod conn;
pub mod error;
pub mod files;
pub mod http;
pub mod metrics;
pub mod peer;
pub mod ratelimit;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod token_sockets;
pub mod web;
pub mod wire;
pub mod ws;
