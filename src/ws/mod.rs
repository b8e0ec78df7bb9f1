//! The WebSocket hub of contract §7: `GET /ws` on the same TLS listener, upgraded with
//! fastwebsockets. `protocol` is the wire format; `socket` runs one client's socket and
//! hands what it reads to the client's connection actor.

pub mod message;
pub mod protocol;
pub mod socket;
