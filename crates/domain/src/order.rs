//! Rules for a new order: field formats, amount limits, and the payable window.

use time::{OffsetDateTime, UtcOffset};

/// Beijing time, the offset every APIv3 timestamp is written in.
pub fn china_offset() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// A request field that breaks a rule; the field is named as a JSON path
/// relative to the body (`amount.total`), the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError { field: field.to_owned(), message: message.into() }
    }

    pub fn missing(field: &str) -> Self {
        FieldError::new(field, format!("参数“{field}”是必填项"))
    }
}

/// How long an order stays payable when the merchant sets no `time_expire`.
pub const DEFAULT_PAYABLE_S: i64 = 7 * 24 * 3600;
/// The shortest allowed payable window.
pub const MIN_PAYABLE_S: i64 = 60;
/// Expiry further out than this is clamped to it.
pub const MAX_PAYABLE_S: i64 = 90 * 24 * 3600;
/// A `prepay_id` is valid for two hours.
pub const PREPAY_VALID_S: i64 = 2 * 3600;
/// The largest single order Koudai accepts: 1,000,000.00 CNY.
pub const MAX_ORDER_FEN: i64 = 100_000_000;

/// An order that passed every rule, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub appid: String,
    pub mchid: String,
    pub description: String,
    pub out_trade_no: String,
    pub notify_url: String,
    pub total_fen: i64,
    pub attach: Option<String>,
    pub payer_openid: Option<String>,
    /// Business time (Unix seconds) after which the order can no longer be paid.
    pub time_expire_s: i64,
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

pub fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let n = char_len(value);
    if n < min || n > max {
        return Err(FieldError::new(field, format!("字段{field}长度应在{min}到{max}之间，当前为{n}")));
    }
    Ok(())
}

/// `out_trade_no`: 6 to 32 characters of letters, digits and `_-|*`.
pub fn check_out_trade_no(value: &str) -> Result<(), FieldError> {
    check_length("out_trade_no", value, 6, 32)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_-|*".contains(c)) {
        return Err(FieldError::new("out_trade_no", "商户订单号只能是数字、大小写字母或_-|*"));
    }
    Ok(())
}

/// `notify_url`: an absolute http(s) URL without a query string, at most 255
/// characters. Live mode requires https; the sandbox also accepts http, so
/// that a receiver on loopback can be used.
pub fn check_notify_url(value: &str, require_https: bool) -> Result<(), FieldError> {
    check_length("notify_url", value, 1, 255)?;
    let rest = if let Some(r) = value.strip_prefix("https://") {
        r
    } else if let Some(r) = value.strip_prefix("http://").filter(|_| !require_https) {
        r
    } else {
        let need = if require_https { "https" } else { "http或https" };
        return Err(FieldError::new("notify_url", format!("通知地址必须以{need}开头")));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(FieldError::new("notify_url", "通知地址缺少主机名"));
    }
    if value.contains('?') {
        return Err(FieldError::new("notify_url", "通知地址不能携带参数"));
    }
    // A URL the callback client could never send to is refused now, not at
    // the first delivery: it must parse as a URL, with a host, and carry no
    // spaces or control characters (which parsing would quietly encode).
    let parsed = url::Url::parse(value).ok().filter(|u| u.host_str().is_some_and(|h| !h.is_empty()));
    if parsed.is_none() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new("notify_url", "通知地址不是合法的URL"));
    }
    Ok(())
}

/// `amount.total`: a positive number of fen up to [`MAX_ORDER_FEN`].
pub fn check_total(total_fen: i64) -> Result<(), FieldError> {
    if total_fen <= 0 || total_fen > MAX_ORDER_FEN {
        return Err(FieldError::new("amount.total", format!("订单金额必须在1到{MAX_ORDER_FEN}分之间")));
    }
    Ok(())
}

/// `amount.currency`: only `CNY`.
pub fn check_currency(currency: &str) -> Result<(), FieldError> {
    if currency != "CNY" {
        return Err(FieldError::new("amount.currency", "仅支持人民币CNY"));
    }
    Ok(())
}

/// When the order stops being payable: the requested `time_expire` (at least
/// a minute away, clamped to 90 days), or seven days by default.
pub fn payable_until(now_s: i64, requested_s: Option<i64>) -> Result<i64, FieldError> {
    match requested_s {
        None => Ok(now_s + DEFAULT_PAYABLE_S),
        Some(t) if t < now_s + MIN_PAYABLE_S => Err(FieldError::new("time_expire", "订单失效时间不能早于下单后1分钟")),
        Some(t) => Ok(t.min(now_s + MAX_PAYABLE_S)),
    }
}

/// Unix seconds of a timestamp.
pub fn unix_s(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_trade_no_rules() {
        assert!(check_out_trade_no("T2026_1-a|*").is_ok());
        assert_eq!(check_out_trade_no("short").map_err(|e| e.field), Err("out_trade_no".into()));
        assert!(check_out_trade_no("has space1").is_err());
        assert!(check_out_trade_no(&"x".repeat(33)).is_err());
    }

    #[test]
    fn notify_url_rules() {
        assert!(check_notify_url("https://shop.example/notify", true).is_ok());
        assert!(check_notify_url("http://127.0.0.1:9000/n", false).is_ok());
        assert!(check_notify_url("http://127.0.0.1:9000/n", true).is_err());
        assert!(check_notify_url("https://a.example/n?x=1", false).is_err());
        assert!(check_notify_url("ftp://a", false).is_err());
        assert!(check_notify_url("https://", false).is_err());
        for unreachable in ["http://a b/n", "http://[::1/n", "http://a\u{1}b/n", "http://a/n\t", "http:// /n"] {
            assert!(check_notify_url(unreachable, false).is_err(), "{unreachable:?}");
        }
        assert!(check_notify_url("http://[::1]:9000/n", false).is_ok());
    }

    #[test]
    fn amounts_and_currency() {
        assert!(check_total(1).is_ok());
        assert!(check_total(0).is_err());
        assert!(check_total(-5).is_err());
        assert!(check_total(MAX_ORDER_FEN + 1).is_err());
        assert!(check_currency("CNY").is_ok());
        assert!(check_currency("USD").is_err());
    }

    #[test]
    fn payable_window() {
        assert_eq!(payable_until(1000, None), Ok(1000 + DEFAULT_PAYABLE_S));
        assert!(payable_until(1000, Some(1059)).is_err());
        assert_eq!(payable_until(1000, Some(1060)), Ok(1060));
        assert_eq!(payable_until(0, Some(i64::MAX / 2)), Ok(MAX_PAYABLE_S));
    }

    proptest! {
        #[test]
        fn accepted_expiry_is_always_within_bounds(now in 0i64..4_000_000_000, delta in -1000i64..20_000_000) {
            if let Ok(t) = payable_until(now, Some(now + delta)) {
                prop_assert!(t >= now + MIN_PAYABLE_S && t <= now + MAX_PAYABLE_S);
            }
        }
    }
}
