//! The load tool's pieces, as a library so that the project's test suite can run a small
//! scenario against its own hub: a client of the public API (`hub`), WebSocket clients
//! (`socket`), the push scenario (`push`), the attacks of the abuse scenario (`abuse`) and
//! latency statistics (`stats`).

pub mod abuse;
pub mod hub;
pub mod monitor;
pub mod push;
pub mod report;
pub mod socket;
pub mod stats;
