//! The e-commerce side of an official account: its shop (products, SKUs
//! and stock, express templates, groups, shelves) and the shop's orders,
//! bought and paid through the payment core, shipped, confirmed, disputed
//! and refunded.

pub mod shop;
pub mod shop_orders;
