//! Timestamps on the wire: RFC 3339 with the `+08:00` offset WeChat writes,
//! seconds precision; any valid RFC 3339 accepted on input.

use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use koudai_domain::order::china_offset;

const RFC3339_CHINA: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]");
const BILL_TIME: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

fn china(unix_s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_s).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(china_offset())
}

/// `2018-06-08T10:34:56+08:00` for a Unix time in seconds.
pub fn format_rfc3339(unix_s: i64) -> String {
    // Fixed numeric descriptions cannot fail on a valid date-time.
    china(unix_s).format(RFC3339_CHINA).unwrap_or_else(|_| "1970-01-01T08:00:00+08:00".to_owned())
}

/// `2018-06-08 10:34:56` (China time), as bills write times.
pub fn format_bill_time(unix_s: i64) -> String {
    china(unix_s).format(BILL_TIME).unwrap_or_else(|_| "1970-01-01 08:00:00".to_owned())
}

/// Parses any RFC 3339 date-time (fractions and `Z` included) to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_beijing_time() {
        assert_eq!(format_rfc3339(1_528_425_296), "2018-06-08T10:34:56+08:00");
    }

    #[test]
    fn parses_what_sdks_send() {
        assert_eq!(parse_rfc3339("2018-06-08T10:34:56+08:00"), Some(1_528_425_296));
        assert_eq!(parse_rfc3339("2018-06-08T02:34:56Z"), Some(1_528_425_296));
        assert_eq!(parse_rfc3339("2018-06-08T02:34:56.123456789Z"), Some(1_528_425_296));
        assert_eq!(parse_rfc3339("2018-06-08 10:34:56"), None);
    }
}
