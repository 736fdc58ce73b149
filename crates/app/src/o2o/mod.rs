//! Offline to online: physical stores (POI, audited by the operator) and
//! their pay codes, where a consumer pays a store from the wallet through
//! the payment core.

pub mod poi;
pub mod storepay;
