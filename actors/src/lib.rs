//! Booth Hub's core, a strict stack of layers (each imports only the ones below it; checked
//! by `scripts/module-cycles`, see `docs/ARCHITECTURE.md`):
//!
//! - [`hub`]: the façade transports call; [`cluster`]: this node among others on one store;
//! - the actors: [`supervisor`] (the tables of children and their restarts), [`session`],
//!   [`booth`], [`connection`], and the [`directory`] of users, outlets and booths;
//! - what actors share: [`sequencer`] (a client's ordered queue), [`router`] (stream →
//!   listeners), [`registry`] (id → actor), [`context`], [`ownership`] (who acts for which
//!   booking), [`error`];
//! - [`store`] (durable records) and [`clock`];
//! - [`domain`]: the rules of the contract, pure.
//!
//! Knows no HTTP and no sockets: transports translate and call the hub.

pub mod booth;
pub mod clock;
pub mod cluster;
pub mod connection;
pub mod context;
pub mod directory;
pub mod domain;
pub mod error;
pub mod hub;
pub mod metrics;
pub mod ownership;
pub mod registry;
pub mod router;
pub mod sequencer;
pub mod session;
pub mod store;
pub mod supervisor;
pub mod traced;
#[cfg(test)]
mod world;
