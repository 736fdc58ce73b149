//! Koudai's server, workers and command line.
//!
//! Requests flow one way: HTTP → [`api`] decodes and authenticates (via
//! `koudai_protocol`) → [`payments`] applies the domain rules → `koudai_store`
//! writes one transaction, outbox row included → the response is encoded and
//! signed. [`worker`] delivers the outbox and closes expired orders.

pub mod admin;
pub mod api;
pub mod app;
pub mod bench;
pub mod cashier;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod payments;
pub mod platform;
pub mod sandbox;
pub mod worker;

pub use app::{AppState, Mode, Server, ServerConfig};
