//! The `boothhub` process: configuration, TLS, telemetry and the HTTP API, translating between
//! the wire and the hub of `boothhub-actors`. It decides nothing about bookings itself.

pub mod auth;
pub mod cli;
pub mod config;
pub mod conn;
pub mod error;
pub mod http;
pub mod serve;
pub mod telemetry;
pub mod tls;
pub mod web;
pub mod ws;
