//! Fees, deposits and settlement cycles, held as data: a [`FeeSchedule`] is
//! parsed from a JSON file (the defaults ship in `data/fee-schedule.json`),
//! loaded into the store with an effective date, and a merchant's fee rule
//! (a category such as `general`, or a WeChat `settlement_id` such as `716`)
//! picks its rate, settlement cycle, deposit and single-payment limit.
//!
//! Rounding, the one rule everywhere: a fee is `total × rate` rounded to the
//! nearest fen, halves rounded up ([`fee_fen`]). A refund returns the fee pro
//! rata *cumulatively*: after refunds adding up to `r` the fee returned so
//! far is `round(fee × r / total)` with the same rounding, so each refund
//! returns the difference from the one before ([`fee_refund_fen`]) and the
//! refunds of a fully refunded order return exactly its fee.

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

use crate::order::china_offset;

/// The schedule shipped with Koudai.
pub const DEFAULT_SCHEDULE: &str = include_str!("../data/fee-schedule.json");

/// A fee rate in parts per million of the amount (0.6% = 6,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate {
    ppm: i64,
}

impl Rate {
    pub const fn from_ppm(ppm: i64) -> Rate {
        Rate { ppm }
    }

    pub fn ppm(self) -> i64 {
        self.ppm
    }

    /// Parses a percentage with up to four decimals, `"0.6%"`, `"2.00%"`;
    /// from 0% to 100%. No floating point is involved.
    pub fn parse_percent(s: &str) -> Option<Rate> {
        let number = s.trim().strip_suffix('%')?;
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() || frac.len() > 4 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let mut frac_ppm: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_ppm += i64::from(b - b'0') * 10i64.pow(3 - u32::try_from(i).ok()?);
        }
        let ppm = whole.checked_mul(10_000)?.checked_add(frac_ppm)?;
        (0..=1_000_000).contains(&ppm).then_some(Rate { ppm })
    }

    /// `"0.60%"`: two decimals as WeChat's bills print it, more when needed.
    pub fn percent(self) -> String {
        let whole = self.ppm / 10_000;
        let frac = self.ppm % 10_000;
        if frac % 100 == 0 {
            format!("{whole}.{:02}%", frac / 100)
        } else {
            format!("{whole}.{frac:04}").trim_end_matches('0').to_owned() + "%"
        }
    }
}

/// `numerator / denominator` rounded to the nearest integer, halves up.
/// Both arguments are non-negative and `denominator` positive.
fn div_round_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// The fee on a payment of `total_fen` at `rate`, in fen.
pub fn fee_fen(total_fen: i64, rate: Rate) -> i64 {
    let fee = div_round_half_up(i128::from(total_fen.max(0)) * i128::from(rate.ppm), 1_000_000);
    i64::try_from(fee).unwrap_or(i64::MAX)
}

/// What a payment costs its merchant, decided when it is paid: the rule in
/// force, its rate, the fee, and the business day the rest settles on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub rule_id: String,
    pub rate_ppm: i64,
    pub fee_fen: i64,
    /// `YYYY-MM-DD`.
    pub settles_on: String,
}

/// The charge on a payment of `total_fen` made at business time `paid_at`
/// under `rule`.
pub fn charge(total_fen: i64, rule: &FeeRule, paid_at: i64) -> Charge {
    Charge {
        rule_id: rule.id.clone(),
        rate_ppm: rule.rate.ppm(),
        fee_fen: fee_fen(total_fen, rule.rate),
        settles_on: format_date(settles_on(paid_at, rule.cycle_days)),
    }
}

/// The part of an order's fee a refund returns: the cumulative fee share
/// after it minus the share before it. `refunded_before_fen` counts the
/// refunds of the order that still stand (closed ones do not count).
pub fn fee_refund_fen(total_fen: i64, fee_fen: i64, refunded_before_fen: i64, refund_fen: i64) -> i64 {
    if total_fen <= 0 {
        return 0;
    }
    let share = |refunded: i64| {
        div_round_half_up(i128::from(fee_fen) * i128::from(refunded.clamp(0, total_fen)), i128::from(total_fen))
    };
    i64::try_from(share(refunded_before_fen + refund_fen) - share(refunded_before_fen)).unwrap_or(0)
}

/// One rule of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRule {
    /// `general`, `virtual_goods`, `jewellery`, or a `settlement_id`.
    pub id: String,
    pub name: String,
    pub rate: Rate,
    /// Funds of a payment on business day D become available on D + this.
    pub cycle_days: i64,
    pub deposit_fen: i64,
    /// Largest single payment allowed, if the rule limits it.
    pub max_single_fen: Option<i64>,
}

/// A version of the fee schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    pub version: String,
    /// Unix seconds from which this version applies.
    pub effective_from: i64,
    pub rules: Vec<FeeRule>,
}

/// Why a schedule file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("not a fee schedule: {0}")]
    Json(String),
    #[error("effective_from must be an RFC 3339 time: {0}")]
    EffectiveFrom(String),
    #[error("rule {id}: {problem}")]
    Rule { id: String, problem: String },
    #[error("rule {0} appears twice")]
    Duplicate(String),
    #[error("the schedule has no rules")]
    Empty,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    version: String,
    effective_from: String,
    #[serde(default)]
    note: Option<String>,
    rules: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    name: String,
    rate: String,
    cycle_days: i64,
    deposit_fen: i64,
    #[serde(default)]
    max_single_fen: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

impl FeeSchedule {
    /// Parses and checks a schedule file.
    pub fn parse(json: &str) -> Result<FeeSchedule, ScheduleError> {
        let file: ScheduleFile = serde_json::from_str(json).map_err(|e| ScheduleError::Json(e.to_string()))?;
        let _ = file.note;
        let effective_from = OffsetDateTime::parse(&file.effective_from, &Rfc3339)
            .map_err(|_| ScheduleError::EffectiveFrom(file.effective_from.clone()))?
            .unix_timestamp();
        if file.version.trim().is_empty() {
            return Err(ScheduleError::Json("version is empty".into()));
        }
        if file.rules.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let mut rules: Vec<FeeRule> = Vec::with_capacity(file.rules.len());
        for r in file.rules {
            let _ = r.scope;
            let bad = |problem: &str| ScheduleError::Rule { id: r.id.clone(), problem: problem.to_owned() };
            if r.id.is_empty() || r.id.len() > 32 {
                return Err(bad("id must be 1 to 32 characters"));
            }
            let rate = Rate::parse_percent(&r.rate).ok_or_else(|| bad("rate must be a percentage like 0.60%"))?;
            if !(0..=90).contains(&r.cycle_days) {
                return Err(bad("cycle_days must be 0 to 90"));
            }
            if r.deposit_fen < 0 {
                return Err(bad("deposit_fen must not be negative"));
            }
            if r.max_single_fen.is_some_and(|m| m <= 0) {
                return Err(bad("max_single_fen must be positive"));
            }
            if rules.iter().any(|x| x.id == r.id) {
                return Err(ScheduleError::Duplicate(r.id));
            }
            rules.push(FeeRule {
                id: r.id,
                name: r.name,
                rate,
                cycle_days: r.cycle_days,
                deposit_fen: r.deposit_fen,
                max_single_fen: r.max_single_fen,
            });
        }
        Ok(FeeSchedule { version: file.version, effective_from, rules })
    }

    pub fn rule(&self, id: &str) -> Option<&FeeRule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// The business day (China time) that a business instant falls on.
pub fn business_date(unix_s: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(unix_s).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(china_offset()).date()
}

/// The first second of a business day.
pub fn day_start(date: Date) -> i64 {
    date.midnight().assume_offset(china_offset()).unix_timestamp()
}

/// The business day on which a payment made at `paid_at` is settled.
pub fn settles_on(paid_at: i64, cycle_days: i64) -> Date {
    business_date(paid_at).saturating_add(Duration::days(cycle_days))
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    // A fixed numeric description cannot fail on a valid date.
    d.format(DATE).unwrap_or_else(|_| "1970-01-01".to_owned())
}

/// Parses `YYYY-MM-DD` strictly (four-digit year, two-digit month and day).
pub fn parse_date(s: &str) -> Option<Date> {
    (s.len() == 10).then(|| Date::parse(s, DATE).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rates_parse_exactly() {
        assert_eq!(Rate::parse_percent("0.6%").map(Rate::ppm), Some(6_000));
        assert_eq!(Rate::parse_percent("2.00%").map(Rate::ppm), Some(20_000));
        assert_eq!(Rate::parse_percent("0.38%").map(Rate::ppm), Some(3_800));
        assert_eq!(Rate::parse_percent("0.0125%").map(Rate::ppm), Some(125));
        assert_eq!(Rate::parse_percent("100%").map(Rate::ppm), Some(1_000_000));
        for bad in ["0.6", "-1%", "0.12345%", "101%", "%", ".5%", "1e2%"] {
            assert_eq!(Rate::parse_percent(bad), None, "{bad}");
        }
        assert_eq!(Rate::from_ppm(6_000).percent(), "0.60%");
        assert_eq!(Rate::from_ppm(20_000).percent(), "2.00%");
        assert_eq!(Rate::from_ppm(125).percent(), "0.0125%");
    }

    #[test]
    fn fees_round_half_up_to_the_fen() {
        let r = Rate::from_ppm(6_000);
        assert_eq!(fee_fen(600, r), 4); // 3.6 → 4, as in WeChat's sample bill
        assert_eq!(fee_fen(100, r), 1); // 0.6 → 1
        assert_eq!(fee_fen(83, r), 0); // 0.498 → 0
        assert_eq!(fee_fen(250, Rate::from_ppm(20_000)), 5);
        assert_eq!(fee_fen(25, Rate::from_ppm(20_000)), 1); // 0.5 → 1
        assert_eq!(fee_fen(1, r), 0);
    }

    #[test]
    fn partial_refunds_return_the_fee_in_steps() {
        // 100.00 at 0.6% → fee 60; three refunds of 33.33, 33.33, 33.34.
        let parts = [fee_refund_fen(10_000, 60, 0, 3_333), fee_refund_fen(10_000, 60, 3_333, 3_333)];
        assert_eq!(parts, [20, 20]);
        assert_eq!(fee_refund_fen(10_000, 60, 6_666, 3_334), 20);
    }

    #[test]
    fn the_shipped_schedule_parses() {
        let s = FeeSchedule::parse(DEFAULT_SCHEDULE).map_err(|e| e.to_string());
        let s = match s {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let general = s.rule("general").map(|r| (r.rate.ppm(), r.cycle_days, r.deposit_fen));
        assert_eq!(general, Some((6_000, 1, 5_000_000)));
        assert_eq!(s.rule("virtual_goods").map(|r| r.rate.ppm()), Some(20_000));
        assert_eq!(s.rule("jewellery").map(|r| r.rate.ppm()), Some(20_000));
        assert_eq!(
            s.rule("711").map(|r| (r.rate.ppm(), r.cycle_days, r.max_single_fen)),
            Some((10_000, 7, Some(300_000)))
        );
    }

    #[test]
    fn schedules_with_mistakes_are_refused() {
        let bad_rate = r#"{"version":"x","effective_from":"2026-01-01T00:00:00+08:00","rules":[{"id":"a","name":"a","rate":"0.6","cycle_days":1,"deposit_fen":0}]}"#;
        assert!(matches!(FeeSchedule::parse(bad_rate), Err(ScheduleError::Rule { .. })));
        let dup = r#"{"version":"x","effective_from":"2026-01-01T00:00:00+08:00","rules":[{"id":"a","name":"a","rate":"1%","cycle_days":1,"deposit_fen":0},{"id":"a","name":"b","rate":"1%","cycle_days":1,"deposit_fen":0}]}"#;
        assert_eq!(FeeSchedule::parse(dup), Err(ScheduleError::Duplicate("a".into())));
        let typo = r#"{"version":"x","effective_from":"2026-01-01","rules":[]}"#;
        assert!(FeeSchedule::parse(typo).is_err());
    }

    #[test]
    fn business_days_are_china_days() {
        // 2026-11-24T15:59:59Z is 23:59:59 in Beijing; one second later is the 25th.
        let t = 1_795_535_999;
        assert_eq!(format_date(business_date(t)), "2026-11-24");
        assert_eq!(format_date(business_date(t + 1)), "2026-11-25");
        assert_eq!(day_start(business_date(t + 1)), t + 1);
        assert_eq!(format_date(settles_on(t, 1)), "2026-11-25");
        assert_eq!(parse_date("2026-11-24").map(format_date).as_deref(), Some("2026-11-24"));
        for bad in ["2026-13-01", "2026-1-01", "2026-02-30", "20261124", "2026-11-2x"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    proptest! {
        /// However an order is refunded in parts, the fee returned adds up
        /// to the whole fee, and no single part is negative or exceeds it.
        #[test]
        fn fee_refunds_add_up_to_the_fee(
            total in 1i64..10_000_000,
            ppm in 0i64..=100_000,
            cuts in proptest::collection::vec(1u32..1000, 1..50),
        ) {
            let fee = fee_fen(total, Rate::from_ppm(ppm));
            prop_assert!(fee <= total);
            let weights: u64 = cuts.iter().map(|&c| u64::from(c)).sum();
            let mut refunded = 0i64;
            let mut returned = 0i64;
            for (i, &c) in cuts.iter().enumerate() {
                let part = if i + 1 == cuts.len() {
                    total - refunded
                } else {
                    (i128::from(total) * i128::from(c) / i128::from(weights)) as i64
                };
                let back = fee_refund_fen(total, fee, refunded, part);
                prop_assert!(back >= 0 && back <= fee);
                // The merchant never pays back more than the refund itself.
                prop_assert!(back <= part || part == 0);
                refunded += part;
                returned += back;
            }
            prop_assert_eq!(refunded, total);
            prop_assert_eq!(returned, fee);
        }

        #[test]
        fn a_fee_is_within_half_a_fen_of_the_exact_product(total in 0i64..1_000_000_000, ppm in 0i64..=1_000_000) {
            let fee = fee_fen(total, Rate::from_ppm(ppm));
            let exact2 = 2 * i128::from(total) * i128::from(ppm); // 2 × exact × 10^6
            let diff = 2 * i128::from(fee) * 1_000_000 - exact2;
            prop_assert!(diff > -1_000_000 && diff <= 1_000_000);
        }
    }
}
