//! Koudai's business rules, free of I/O: money (`fees`: rates, rounding,
//! the charge on a payment, settlement days; `ledger`: movements and the
//! balancing rule), identifiers (`ids`), the trade and refund state
//! machines (`trade`, `refund`, `order`), the delivery channels and their
//! retry schedules (`schedule`), `clock` (wall and business time),
//! `secret`, `text` (enums stored as strings); and the rules of each
//! context as data with their checks: `provider` (privileges), `sharing`,
//! `applyment` (onboarding), `mp` (menus, tokens, quotas), `component`
//! (permission sets), `eligibility` (the e-commerce rules engine and the
//! capability names the code asks for), `shop` (categories, product checks,
//! shop-order status), `poi` (stores), `discovery` (ranking).
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
