//! What every use case runs on: the clocks (wall and business time), the
//! one source of randomness, the platform's signing keys, and the HTTP
//! client everything Koudai sends leaves through.

pub mod clock;
pub mod keys;
pub mod outbound;
pub mod rng;
