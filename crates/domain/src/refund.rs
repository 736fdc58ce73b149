//! Refunds: their states, the rules a refund request must meet, and the
//! `out_refund_no` format.

use crate::order::FieldError;

/// How long (business time) a refund to a wallet stays `PROCESSING`.
pub const PROCESSING_S: i64 = 60;
/// At most this many refunds per order (WeChat's limit).
pub const MAX_REFUNDS_PER_ORDER: i64 = 50;
/// An order can be refunded up to a year after payment.
pub const REFUND_WINDOW_S: i64 = 365 * 24 * 3600;

crate::text_enum! {
    /// The `status` of a refund (`refund_status` in its notification).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RefundStatus: "refund status" {
        Processing = "PROCESSING",
        Success = "SUCCESS",
        Closed = "CLOSED",
        Abnormal = "ABNORMAL",
    }
}

impl RefundStatus {
    /// The 退款状态 column of a bill, which has its own vocabulary.
    pub fn bill_status(self) -> &'static str {
        match self {
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Closed => "FAIL",
            RefundStatus::Abnormal => "CHANGE",
        }
    }

    /// The notification sent when a refund reaches this state, with its summary.
    pub fn event(self) -> Option<(&'static str, &'static str)> {
        match self {
            RefundStatus::Processing => None,
            RefundStatus::Success => Some(("REFUND.SUCCESS", "退款成功")),
            RefundStatus::Abnormal => Some(("REFUND.ABNORMAL", "退款异常")),
            RefundStatus::Closed => Some(("REFUND.CLOSED", "退款关闭")),
        }
    }

    /// Whether the refunded money is still counted against the order (it is
    /// unless the refund was closed and its money returned).
    pub fn holds_money(self) -> bool {
        !matches!(self, RefundStatus::Closed)
    }
}

crate::text_enum! {
    /// Which of the merchant's funds a refund was taken from (`funds_account`
    /// of the refund).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum FundsAccount: "funds_account" {
        /// Pending funds: the order was not settled yet.
        Unsettled = "UNSETTLED",
        /// Available (settled) funds.
        Available = "AVAILABLE",
    }
}

/// Why a refund cannot move to the state asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} refund cannot become {to}")]
pub struct RefundTransitionError {
    pub from: RefundStatus,
    pub to: RefundStatus,
}

/// A `PROCESSING` refund ends `SUCCESS`, `ABNORMAL` (the money could not be
/// delivered and waits in refund clearing) or `CLOSED` (the money goes back
/// to the merchant); an `ABNORMAL` one can still be closed.
pub fn transition(from: RefundStatus, to: RefundStatus) -> Result<RefundStatus, RefundTransitionError> {
    use RefundStatus::*;
    match (from, to) {
        (Processing, Success | Abnormal | Closed) | (Abnormal, Closed) => Ok(to),
        _ => Err(RefundTransitionError { from, to }),
    }
}

/// `out_refund_no`: 1 to 64 of `[0-9A-Za-z_-|*@]`.
pub fn check_out_refund_no(value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("out_refund_no", "out_refund_no 只能是1到64位的数字、大小写字母或_-|*@"))
    }
}

/// Checks a refund's amount against the order: positive, and with the
/// refunds that still stand not above what was paid.
pub fn check_amount(refund_fen: i64, order_total_fen: i64, refunded_fen: i64) -> Result<(), RefundRefusal> {
    if refund_fen <= 0 {
        return Err(RefundRefusal::NotPositive);
    }
    if refunded_fen.saturating_add(refund_fen) > order_total_fen {
        return Err(RefundRefusal::ExceedsRefundable { refundable_fen: (order_total_fen - refunded_fen).max(0) });
    }
    Ok(())
}

/// Business rules a refund request can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("退款金额必须大于0")]
    NotPositive,
    #[error("申请退款金额超过订单可退金额（可退{refundable_fen}分）")]
    ExceedsRefundable { refundable_fen: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_states_move_forward_only() {
        use RefundStatus::*;
        assert_eq!(transition(Processing, Success), Ok(Success));
        assert_eq!(transition(Processing, Abnormal), Ok(Abnormal));
        assert_eq!(transition(Abnormal, Closed), Ok(Closed));
        assert!(transition(Success, Closed).is_err());
        assert!(transition(Closed, Success).is_err());
        assert!(transition(Abnormal, Success).is_err());
        for s in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(s.as_str()), Some(s));
            assert_eq!(RefundStatus::try_from(s.as_str().to_owned()), Ok(s));
        }
        for f in FundsAccount::ALL {
            assert_eq!(f.as_str().parse::<FundsAccount>(), Ok(f));
        }
        assert!("FAIL".parse::<RefundStatus>().is_err());
        assert!("BASIC".parse::<FundsAccount>().is_err());
    }

    #[test]
    fn amounts_stay_within_the_order() {
        assert_eq!(check_amount(100, 100, 0), Ok(()));
        assert_eq!(check_amount(1, 100, 100), Err(RefundRefusal::ExceedsRefundable { refundable_fen: 0 }));
        assert_eq!(check_amount(0, 100, 0), Err(RefundRefusal::NotPositive));
        assert!(check_out_refund_no("R-1|a*b@c_d").is_ok());
        assert!(check_out_refund_no("").is_err());
        assert!(check_out_refund_no("退款").is_err());
    }
}
