//! Profit sharing (分账, protocol notes §10): who may receive, how much of an
//! order may be shared, and the states of sharing orders, their receivers
//! and returns.

use crate::order::FieldError;

/// Requests one order may have.
pub const MAX_REQUESTS_PER_ORDER: i64 = 50;
/// Receivers one request may name.
pub const MAX_RECEIVERS_PER_REQUEST: usize = 50;
/// The max ratio when the merchant set none (ten-thousandths).
pub const DEFAULT_MAX_RATIO: i64 = 3000;
/// Seconds in a day.
pub const DAY_S: i64 = 86_400;
/// Business days a profit-sharing order's funds stay frozen at most.
pub const AUTO_UNFREEZE_DAYS: i64 = 30;
/// Business seconds a sharing order or a return stays `PROCESSING`.
pub const PROCESSING_S: i64 = 60;

crate::text_enum! {
    /// Who a receiver is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ReceiverType: "receiver type" {
        /// A merchant number (a provider taking commission, a brand, a store).
        MerchantId = "MERCHANT_ID",
        /// A consumer's openid under `appid` (the provider's `sp_appid` in
        /// partner mode).
        PersonalOpenid = "PERSONAL_OPENID",
        /// A consumer's openid under `sub_appid`.
        PersonalSubOpenid = "PERSONAL_SUB_OPENID",
    }
}

crate::text_enum! {
    /// The receiver's relation to the merchant.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RelationType: "relation type" {
        ServiceProvider = "SERVICE_PROVIDER",
        Store = "STORE",
        Staff = "STAFF",
        StoreOwner = "STORE_OWNER",
        Partner = "PARTNER",
        Headquarter = "HEADQUARTER",
        Brand = "BRAND",
        Distributor = "DISTRIBUTOR",
        User = "USER",
        Supplier = "SUPPLIER",
        Custom = "CUSTOM",
    }
}

crate::text_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SharingKind: "sharing kind" {
        Share = "share",
        Unfreeze = "unfreeze",
    }
}

crate::text_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SharingState: "sharing state" {
        Processing = "PROCESSING",
        Finished = "FINISHED",
    }
}

crate::text_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ReceiverResult: "receiver result" {
        Pending = "PENDING",
        Success = "SUCCESS",
        Closed = "CLOSED",
    }
}

crate::text_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ReturnResult: "return result" {
        Processing = "PROCESSING",
        Success = "SUCCESS",
        Failed = "FAILED",
    }
}

/// Checks an order number of the sharing API (`out_order_no`,
/// `out_return_no`): 1 to 64 of `0-9 a-z A-Z _ - | * @`.
pub fn check_out_no(field: &str, value: &str) -> Result<(), FieldError> {
    let ok =
        (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("{field} 长度为1到64，只能是数字、大小写字母和_-|*@")))
    }
}

/// The most that may still be shared to others from an order of
/// `total_fen` with `shared_fen` shared already, under `max_ratio`
/// (ten-thousandths of the order's amount, rounded down to the fen).
pub fn shareable_fen(total_fen: i64, shared_fen: i64, max_ratio: i64) -> i64 {
    let cap = i128::from(total_fen) * i128::from(max_ratio.clamp(0, 10_000)) / 10_000;
    (i64::try_from(cap).unwrap_or(i64::MAX) - shared_fen).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_caps_what_is_shared_in_total() {
        assert_eq!(shareable_fen(10_000, 0, 3000), 3000);
        assert_eq!(shareable_fen(10_000, 2500, 3000), 500);
        assert_eq!(shareable_fen(10_000, 3000, 3000), 0);
        // Rounded down: 30% of 1 fen is nothing.
        assert_eq!(shareable_fen(1, 0, 3000), 0);
        assert_eq!(shareable_fen(999, 0, 3000), 299);
        assert_eq!(shareable_fen(100, 0, 20_000), 100);
    }

    #[test]
    fn out_numbers_are_checked() {
        assert!(check_out_no("out_order_no", "P20261125-01").is_ok());
        assert!(check_out_no("out_order_no", "").is_err());
        assert!(check_out_no("out_order_no", "有").is_err());
        assert!(check_out_no("out_order_no", &"x".repeat(65)).is_err());
    }
}
