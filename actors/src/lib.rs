//! Booth Hub's core: the rules of the contract (`domain`), durable records (`store`) and the
//! actors that own live state and timers (`session`, `booth`, `connection`, `supervisor`),
//! reached through
//! [`hub::Hub`]. Knows no HTTP and no sockets: transports translate and call the hub.

pub mod booth;
pub mod clock;
pub mod connection;
pub mod directory;
pub mod domain;
pub mod hub;
pub mod registry;
pub mod sequencer;
pub mod session;
pub mod store;
pub mod supervisor;
