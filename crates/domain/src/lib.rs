//! Koudai's business rules, free of I/O: money, identifiers, the payment
//! state machine, the callback retry schedule and the ledger's balancing rule.
//!
//! Nothing here reads a clock, a socket or a database: every function takes
//! the time and the randomness it needs as arguments, so that the rules can be
//! tested exhaustively and replayed exactly.

pub mod applyment;
pub mod clock;
pub mod component;
pub mod discovery;
pub mod eligibility;
pub mod fees;
pub mod ids;
pub mod ledger;
pub mod mp;
pub mod order;
pub mod poi;
pub mod provider;
pub mod refund;
pub mod schedule;
pub mod secret;
pub mod sharing;
pub mod shop;
pub mod text;
pub mod trade;

pub use clock::{BusinessTime, WallTime};
pub use order::{FieldError, NewOrder};
pub use secret::Secret;
pub use trade::{TradeState, TradeType};
