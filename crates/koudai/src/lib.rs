//! Koudai's server, workers and command line.
//!
//! Requests flow one way: HTTP → [`api`] decodes and authenticates (via
//! `koudai_protocol`) → [`payments`] applies the domain rules → `koudai_store`
//! writes one transaction, outbox row included → the response is encoded and
//! signed. [`refunds`] and [`bills`] do the same for refunds and bills, and
//! [`money`] settles days and verifies the ledger. [`worker`] delivers the
//! outbox, finishes refunds, settles each business day and closes expired
//! orders.

pub mod admin;
pub mod api;
pub mod app;
pub mod bench;
pub mod bills;
pub mod cashier;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod money;
pub mod payments;
pub mod platform;
pub mod refunds;
pub mod sandbox;
pub mod worker;

pub use app::{AppState, Mode, Server, ServerConfig};
