//! Timestamps on the wire: RFC 3339 with the `+08:00` offset WeChat writes,
//! seconds precision; any valid RFC 3339 accepted on input.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use koudai_domain::order::china_offset;

/// `2018-06-08T10:34:56+08:00` for a Unix time in seconds.
pub fn format_rfc3339(unix_s: i64) -> String {
    format!("{}+08:00", local(unix_s, 'T'))
}

/// `2018-06-08 10:34:56` (China time), as bills write times.
pub fn format_bill_time(unix_s: i64) -> String {
    local(unix_s, ' ')
}

fn local(unix_s: i64, separator: char) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix_s).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(china_offset());
    format!(
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
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
