//! Shapes of the identifiers Koudai hands out, built from caller-supplied
//! randomness so that this module stays deterministic.
//!
//! The shapes follow what real clients have seen (protocol notes §3.2): a
//! `prepay_id` is `wx` + a 14-digit timestamp + 20 hex digits, a
//! `transaction_id` is 28 digits starting `42000`.

use time::macros::format_description;
use time::OffsetDateTime;

use crate::order::china_offset;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn digits(random: &[u8], n: usize) -> String {
    random.iter().cycle().take(n).map(|b| char::from(b'0' + b % 10)).collect()
}

/// The first `n` lower-case hex digits of `random`.
fn hex(random: &[u8], n: usize) -> String {
    let mut h = hex::encode(random);
    h.truncate(n);
    h
}

fn base62(random: &[u8], n: usize) -> String {
    random
        .iter()
        .cycle()
        .take(n)
        .map(|b| char::from(BASE62.get(usize::from(b % 62)).copied().unwrap_or(b'0')))
        .collect()
}

/// `yyyyMMddHHmmss` in Beijing time.
fn compact_local(at: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day][hour][minute][second]");
    // Formatting a valid date-time with a fixed numeric description cannot
    // fail; the epoch's text stands in should it ever.
    at.to_offset(china_offset()).format(format).unwrap_or_else(|_| "19700101000000".to_owned())
}

/// `wx` + `yyyyMMddHHmmss` (Beijing time) + 20 lower-case hex digits.
pub fn prepay_id(at: OffsetDateTime, random: &[u8; 10]) -> String {
    format!("wx{}{}", compact_local(at), hex(random, 20))
}

/// 28 digits: `42000` + 5 digits + `yyyyMMdd` + 10 digits.
pub fn transaction_id(at: OffsetDateTime, random: &[u8; 15]) -> String {
    let day = compact_local(at);
    let date = day.get(..8).unwrap_or("19700101");
    let d = digits(random, 15);
    format!("42000{}{}{}", d.get(..5).unwrap_or(""), date, d.get(5..).unwrap_or(""))
}

/// 29 digits: `5030` + 5 digits + `yyyyMMdd` + 12 digits, like the
/// `refund_id`s WeChat issues.
pub fn refund_id(at: OffsetDateTime, random: &[u8; 17]) -> String {
    let day = compact_local(at);
    let date = day.get(..8).unwrap_or("19700101");
    let d = digits(random, 17);
    format!("5030{}{}{}", d.get(..5).unwrap_or(""), date, d.get(5..).unwrap_or(""))
}

/// 30 digits: `3008` + 5 digits + `yyyyMMdd` + 13 digits, shaped like the
/// profit-sharing `order_id`s WeChat issues.
pub fn sharing_order_id(at: OffsetDateTime, random: &[u8; 18]) -> String {
    dated("3008", at, random, 18)
}

/// 30 digits: `3601` + 5 digits + `yyyyMMdd` + 13 digits: a receiver's
/// `detail_id`.
pub fn sharing_detail_id(at: OffsetDateTime, random: &[u8; 18]) -> String {
    dated("3601", at, random, 18)
}

/// 30 digits: `3003` + 5 digits + `yyyyMMdd` + 13 digits: a `return_id`.
pub fn sharing_return_id(at: OffsetDateTime, random: &[u8; 18]) -> String {
    dated("3003", at, random, 18)
}

fn dated(prefix: &str, at: OffsetDateTime, random: &[u8], n: usize) -> String {
    let day = compact_local(at);
    let date = day.get(..8).unwrap_or("19700101");
    let d = digits(random, n);
    format!("{prefix}{}{}{}", d.get(..5).unwrap_or(""), date, d.get(5..).unwrap_or(""))
}

/// A payout or settlement reference: `prefix` + `yyyyMMdd` + 10 digits.
pub fn voucher(prefix: &str, at: OffsetDateTime, random: &[u8; 10]) -> String {
    let day = compact_local(at);
    format!("{prefix}{}{}", day.get(..8).unwrap_or("19700101"), digits(random, 10))
}

/// The token in a Native `code_url` (`weixin://wxpay/bizpayurl?pr=<token>`).
pub fn pay_token(random: &[u8; 16]) -> String {
    base62(random, 16)
}

/// An `openid`: `o` followed by 27 URL-safe characters.
pub fn openid(random: &[u8; 27]) -> String {
    format!("o{}", base62(random, 27))
}

/// A random UUID (version 4) in its canonical text form, used as the `id` of
/// a notification.
pub fn uuid_v4(random: &[u8; 16]) -> String {
    uuid::Builder::from_random_bytes(*random).into_uuid().hyphenated().to_string()
}

/// A merchant number: ten digits starting `19`, like the ones WeChat issues.
pub fn mchid(random: &[u8; 8]) -> String {
    format!("19{}", digits(random, 8))
}

/// An app id: `wx` + 16 lower-case hex digits.
pub fn appid(random: &[u8; 8]) -> String {
    format!("wx{}", hex(random, 16))
}

/// A certificate serial: 20 bytes whose first byte lies in 0x10..=0x7F, so
/// that the upper-case hex text, the DER integer and every SDK's
/// representation of it coincide (protocol notes §2.2).
pub fn certificate_serial(random: &[u8; 20]) -> [u8; 20] {
    let mut b = *random;
    b[0] = 0x10 + (b[0] % 0x70);
    b
}

/// A public-key id: `PUB_KEY_ID_` followed by 32 digits.
pub fn public_key_id(random: &[u8; 30]) -> String {
    format!("PUB_KEY_ID_01{}", digits(random, 30))
}

/// A 32-character APIv3 key of letters and digits.
pub fn apiv3_key(random: &[u8; 32]) -> String {
    base62(random, 32)
}

/// Upper-case hex of bytes, as certificate serials are written.
pub fn upper_hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn identifiers_have_the_shapes_clients_expect() {
        let at = datetime!(2014-10-27 12:09:39 UTC);
        let p = prepay_id(at, &[0xAB; 10]);
        assert_eq!(p.len(), 36);
        assert!(p.starts_with("wx20141027200939"));
        let t = transaction_id(at, &[7; 15]);
        assert_eq!(t.len(), 28);
        assert!(t.starts_with("42000") && t.chars().all(|c| c.is_ascii_digit()));
        assert!(t.contains("20141027"));
        assert_eq!(openid(&[200; 27]).len(), 28);
        let u = uuid_v4(&[0xFF; 16]);
        assert_eq!(u.len(), 36);
        assert_eq!(u.chars().nth(14), Some('4'));
        assert!(public_key_id(&[3; 30]).starts_with("PUB_KEY_ID_"));
        assert_eq!(apiv3_key(&[1; 32]).len(), 32);
        assert_eq!(mchid(&[9; 8]).len(), 10);
    }

    #[test]
    fn serials_start_with_a_small_positive_byte() {
        for first in 0..=255u8 {
            let mut r = [0u8; 20];
            r[0] = first;
            let s = certificate_serial(&r);
            assert!((0x10..=0x7F).contains(&s[0]));
        }
        assert_eq!(upper_hex(&[0x1A, 0x2b]), "1A2B");
    }
}
