//! Trade states and types, and the transitions between states.

pub use crate::text::UnknownValue;

crate::text_enum! {
    /// The seven `trade_state` values of WeChat Pay APIv3 (§3.3 of the protocol notes).
    ///
    /// Koudai reaches `NOTPAY`, `SUCCESS`, `CLOSED`, `PAYERROR` and `REFUND`.
    /// `USERPAYING` and `REVOKED` belong to code-pay (scanning the consumer's
    /// code at a till), which Koudai does not offer yet; they still parse so that
    /// stored data and clients stay forward compatible.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum TradeState: "trade_state" {
        Success = "SUCCESS",
        Refund = "REFUND",
        NotPay = "NOTPAY",
        Closed = "CLOSED",
        Revoked = "REVOKED",
        UserPaying = "USERPAYING",
        PayError = "PAYERROR",
    }
}

impl TradeState {
    /// The `trade_state_desc` WeChat shows for this state.
    pub fn description(self) -> &'static str {
        match self {
            TradeState::Success => "支付成功",
            TradeState::Refund => "转入退款",
            TradeState::NotPay => "订单未支付",
            TradeState::Closed => "已关闭",
            TradeState::Revoked => "已撤销",
            TradeState::UserPaying => "用户支付中",
            TradeState::PayError => "支付失败",
        }
    }

    /// Whether money can still be collected for an order in this state.
    pub fn is_payable(self) -> bool {
        matches!(self, TradeState::NotPay | TradeState::UserPaying)
    }

    /// The state an order is really in at business time `now_s`: an unpaid
    /// order whose `time_expire` has passed is closed, whether or not the
    /// expiry worker has written that down yet.
    pub fn effective(self, time_expire_s: i64, now_s: i64) -> TradeState {
        if self.is_payable() && now_s >= time_expire_s {
            TradeState::Closed
        } else {
            self
        }
    }
}

/// Why a state change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// The order was closed (by the merchant or by expiry).
    Closed,
    /// The order has already been paid.
    AlreadyPaid,
    /// The order is in a state from which this change is not possible.
    NotAllowed(TradeState),
}

/// Paying: only an unpaid, unexpired order can be paid.
pub fn pay(state: TradeState) -> Result<TradeState, TransitionError> {
    match state {
        TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => Ok(TradeState::Success),
        TradeState::Closed | TradeState::Revoked => Err(TransitionError::Closed),
        TradeState::Success | TradeState::Refund => Err(TransitionError::AlreadyPaid),
    }
}

/// A failed payment attempt (the payer's bank refused). The order stays
/// payable: a consumer may try again until it expires.
pub fn fail_payment(state: TradeState) -> Result<TradeState, TransitionError> {
    match state {
        TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => Ok(TradeState::PayError),
        TradeState::Closed | TradeState::Revoked => Err(TransitionError::Closed),
        TradeState::Success | TradeState::Refund => Err(TransitionError::AlreadyPaid),
    }
}

/// Closing: unpaid orders close; closing a closed order is a no-op (WeChat
/// answers 204 again); a paid order cannot be closed.
pub fn close(state: TradeState) -> Result<TradeState, TransitionError> {
    match state {
        TradeState::NotPay | TradeState::UserPaying | TradeState::PayError | TradeState::Closed => {
            Ok(TradeState::Closed)
        }
        TradeState::Revoked => Err(TransitionError::NotAllowed(state)),
        TradeState::Success | TradeState::Refund => Err(TransitionError::AlreadyPaid),
    }
}

/// Refunding: a paid order (refunded in part or not) moves to `REFUND`.
pub fn refund(state: TradeState) -> Result<TradeState, TransitionError> {
    match state {
        TradeState::Success | TradeState::Refund => Ok(TradeState::Refund),
        TradeState::Closed | TradeState::Revoked => Err(TransitionError::Closed),
        other => Err(TransitionError::NotAllowed(other)),
    }
}

crate::text_enum! {
    /// How the order was placed; the wire name is what `trade_type` shows.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum TradeType: "trade_type" {
        Jsapi = "JSAPI",
        Native = "NATIVE",
        App = "APP",
        /// H5 orders are `MWEB` on the wire.
        H5 = "MWEB",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_wire_names() {
        for s in TradeState::ALL {
            assert_eq!(TradeState::parse(s.as_str()), Some(s));
        }
        assert_eq!(TradeState::parse("notpay"), None);
    }

    #[test]
    fn only_unpaid_orders_can_be_paid() {
        assert_eq!(pay(TradeState::NotPay), Ok(TradeState::Success));
        assert_eq!(pay(TradeState::PayError), Ok(TradeState::Success));
        assert_eq!(pay(TradeState::Closed), Err(TransitionError::Closed));
        assert_eq!(pay(TradeState::Success), Err(TransitionError::AlreadyPaid));
        assert_eq!(pay(TradeState::Refund), Err(TransitionError::AlreadyPaid));
    }

    #[test]
    fn closing_is_idempotent_but_never_closes_a_paid_order() {
        assert_eq!(close(TradeState::NotPay), Ok(TradeState::Closed));
        assert_eq!(close(TradeState::Closed), Ok(TradeState::Closed));
        assert_eq!(close(TradeState::Success), Err(TransitionError::AlreadyPaid));
    }

    #[test]
    fn an_expired_unpaid_order_is_closed() {
        assert_eq!(TradeState::NotPay.effective(100, 99), TradeState::NotPay);
        assert_eq!(TradeState::NotPay.effective(100, 100), TradeState::Closed);
        assert_eq!(TradeState::Success.effective(100, 1000), TradeState::Success);
    }

    #[test]
    fn trade_types_round_trip() {
        for t in TradeType::ALL {
            assert_eq!(TradeType::parse(t.as_str()), Some(t));
            assert_eq!(TradeType::try_from(t.as_str().to_owned()), Ok(t));
        }
        assert_eq!("H5".parse::<TradeType>(), Err(UnknownValue::new("trade_type", "H5")));
        assert!("notpay".parse::<TradeState>().is_err());
    }
}
