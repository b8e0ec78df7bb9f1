//! The rules of contract §3–§6 as plain types and functions. Pure: never awaits, never reads
//! the clock, never touches the store; every time it needs is passed in.

pub mod access;
pub mod booking;
pub mod code;
pub mod config;
pub mod event;
pub mod ids;
pub mod kind;
pub mod payment;
pub mod qr;
pub mod rate;
pub mod records;
pub mod status;
pub mod validate;
