//! What every use case runs on: the clocks (wall and business time), the
//! one source of randomness, the platform's signing keys, the HTTP
//! client everything Koudai sends leaves through, and whether the database
//! answers.

pub mod clock;
pub mod health;
pub mod keys;
pub mod outbound;
pub mod rng;
