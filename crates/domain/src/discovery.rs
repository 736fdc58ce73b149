//! The discovery centre's rules, as data: the ranking formula and the
//! featured slots (one versioned document), how a listed account scores,
//! and the distance used by "near me".
//!
//! The score of an account is the sum of three parts, each shown to the
//! consumer and the operator:
//!
//! - sales: `weights.sales × log10(1 + yuan)`, where `yuan` is what the
//!   account's payments took in the last `window_days`, net of refunds;
//! - rating: `weights.rating × stars`, `stars` (1–5) being the average of
//!   its confirmed shop orders (5 for an order confirmed without a rights
//!   case, 1 for one that had a case) smoothed towards `rating_prior.stars`
//!   as if `rating_prior.orders` orders had been rated so;
//! - freshness: `weights.freshness × 0.5^(days / freshness_half_life_days)`,
//!   `days` since the account last listed or changed a product on its
//!   shelves (or, without products, since it was created).

use serde::{Deserialize, Serialize};

/// The document shipped with Koudai (version 0 until the operator changes
/// it).
pub const DEFAULT_TEXT: &str = include_str!("../data/discovery.json");

/// At most this many featured slots.
pub const MAX_FEATURED: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub ranking: Ranking,
    /// Featured slots in order: slot 1 first.
    #[serde(default)]
    pub featured: Vec<Slot>,
    /// "Near me" lists accounts with a store within this many kilometres.
    pub near_km: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ranking {
    pub window_days: i64,
    pub weights: Weights,
    pub freshness_half_life_days: f64,
    pub rating_prior: Prior,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub sales: f64,
    pub rating: f64,
    pub freshness: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    pub orders: f64,
    pub stars: f64,
}

/// A featured slot: the account shown there and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub appid: String,
    #[serde(default)]
    pub note: String,
}

impl Config {
    /// Reads and checks a document.
    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = serde_json::from_str(text).map_err(|e| format!("the document does not read: {e}"))?;
        c.check()?;
        Ok(c)
    }

    pub fn default_config() -> Config {
        // The shipped document is checked by a test.
        Config::parse(DEFAULT_TEXT).unwrap_or_else(|e| panic!("data/discovery.json: {e}"))
    }

    fn check(&self) -> Result<(), String> {
        let r = &self.ranking;
        if !(1..=365).contains(&r.window_days) {
            return Err("ranking.window_days must be 1 to 365".into());
        }
        let w = &r.weights;
        for (name, v) in [("sales", w.sales), ("rating", w.rating), ("freshness", w.freshness)] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(format!("ranking.weights.{name} must be 0 to 100"));
            }
        }
        if !(r.freshness_half_life_days.is_finite() && (0.1..=3650.0).contains(&r.freshness_half_life_days)) {
            return Err("ranking.freshness_half_life_days must be 0.1 to 3650".into());
        }
        if !(r.rating_prior.orders.is_finite() && (0.0..=1000.0).contains(&r.rating_prior.orders)) {
            return Err("ranking.rating_prior.orders must be 0 to 1000".into());
        }
        if !(r.rating_prior.stars.is_finite() && (1.0..=5.0).contains(&r.rating_prior.stars)) {
            return Err("ranking.rating_prior.stars must be 1 to 5".into());
        }
        if !(self.near_km.is_finite() && (0.1..=500.0).contains(&self.near_km)) {
            return Err("near_km must be 0.1 to 500".into());
        }
        if self.featured.len() > MAX_FEATURED {
            return Err(format!("at most {MAX_FEATURED} featured slots"));
        }
        for (i, s) in self.featured.iter().enumerate() {
            if s.appid.is_empty() || s.appid.len() > 64 || !s.appid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("featured[{i}].appid is not an appid"));
            }
            if self.featured[..i].iter().any(|o| o.appid == s.appid) {
                return Err(format!("{} is featured twice", s.appid));
            }
            if s.note.chars().count() > 200 {
                return Err(format!("featured[{i}].note is longer than 200 characters"));
            }
        }
        Ok(())
    }

    /// The document as stored (pretty JSON).
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The slot (1-based) an account is featured in.
    pub fn slot_of(&self, appid: &str) -> Option<usize> {
        self.featured.iter().position(|s| s.appid == appid).map(|i| i + 1)
    }
}

/// What an account's score is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Facts {
    /// Taken in the window, net of refunds (fen).
    pub sales_fen: i64,
    /// Confirmed shop orders without a rights case, and orders with one.
    pub good_orders: i64,
    pub bad_orders: i64,
    /// Days since the account last listed or changed a product.
    pub age_days: f64,
}

/// A score and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub total: f64,
    pub sales: f64,
    pub rating: f64,
    pub freshness: f64,
    /// The smoothed rating (1–5) the rating part is made of.
    pub stars: f64,
}

/// The smoothed star rating.
pub fn stars(r: &Ranking, f: &Facts) -> f64 {
    let good = f.good_orders.max(0) as f64;
    let bad = f.bad_orders.max(0) as f64;
    let n = r.rating_prior.orders + good + bad;
    if n <= 0.0 {
        return r.rating_prior.stars;
    }
    (r.rating_prior.orders * r.rating_prior.stars + 5.0 * good + bad) / n
}

pub fn score(r: &Ranking, f: &Facts) -> Score {
    let yuan = f.sales_fen.max(0) as f64 / 100.0;
    let sales = r.weights.sales * (1.0 + yuan).log10();
    let stars = stars(r, f);
    let rating = r.weights.rating * stars;
    let freshness = r.weights.freshness * 0.5f64.powf(f.age_days.max(0.0) / r.freshness_half_life_days);
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Score {
        total: round(sales + rating + freshness),
        sales: round(sales),
        rating: round(rating),
        freshness: round(freshness),
        stars: (stars * 100.0).round() / 100.0,
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().clamp(0.0, 1.0).asin()
}

/// A latitude and longitude as a consumer gives them.
pub fn parse_point(lat: &str, lng: &str) -> Option<(f64, f64)> {
    let lat: f64 = lat.trim().parse().ok()?;
    let lng: f64 = lng.trim().parse().ok()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some((lat, lng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ranking() -> Ranking {
        Config::default_config().ranking
    }

    #[test]
    fn shipped_document_reads() {
        let c = Config::default_config();
        assert!(c.featured.is_empty());
        assert_eq!(Config::parse(&c.to_text()), Ok(c));
    }

    #[test]
    fn bad_documents_say_why() {
        let mut c = Config::default_config();
        c.ranking.weights.sales = -1.0;
        assert!(matches!(Config::parse(&c.to_text()), Err(e) if e.contains("weights.sales")));
        let mut c = Config::default_config();
        c.featured = vec![Slot { appid: "wx1".into(), note: String::new() }; 2];
        assert!(matches!(Config::parse(&c.to_text()), Err(e) if e.contains("twice")));
        assert!(Config::parse(r#"{"ranking": 1}"#).is_err());
        let with_extra = DEFAULT_TEXT.replacen('{', r#"{"boost": 1,"#, 1);
        assert!(Config::parse(&with_extra).is_err());
    }

    #[test]
    fn the_formula_as_documented() {
        let r = ranking();
        // 999 yuan, 3 good orders and 1 bad, a product changed 14 days ago.
        let f = Facts { sales_fen: 99_900, good_orders: 3, bad_orders: 1, age_days: 14.0 };
        let s = score(&r, &f);
        assert_eq!(s.sales, 3.0);
        let stars = (5.0 * 4.0 + 15.0 + 1.0) / 9.0;
        assert_eq!(s.stars, (stars * 100.0f64).round() / 100.0);
        assert_eq!(s.freshness, 0.75);
        assert!((s.total - (3.0 + 0.5 * stars + 0.75)).abs() < 0.002);
    }

    #[test]
    fn distance_of_known_points() {
        // Guangzhou Tower to Canton Fair complex: about 4.9 km.
        let d = distance_km(23.1066, 113.3245, 23.0978, 113.3693);
        assert!((4.5..5.2).contains(&d), "{d}");
        assert_eq!(distance_km(23.0, 113.0, 23.0, 113.0), 0.0);
        assert!(parse_point("91", "0").is_none());
        assert_eq!(parse_point(" 23.1 ", "113.3"), Some((23.1, 113.3)));
    }

    proptest! {
        #[test]
        fn more_sales_never_rank_lower(a in 0i64..10_000_000_000, b in 0i64..10_000_000_000,
                                       good in 0i64..1000, bad in 0i64..1000, age in 0.0f64..1000.0) {
            let r = ranking();
            let (lo, hi) = (a.min(b), a.max(b));
            let f = |s| Facts { sales_fen: s, good_orders: good, bad_orders: bad, age_days: age };
            prop_assert!(score(&r, &f(lo)).total <= score(&r, &f(hi)).total);
        }

        #[test]
        fn stars_stay_between_one_and_five(good in 0i64..100_000, bad in 0i64..100_000) {
            let s = stars(&ranking(), &Facts { good_orders: good, bad_orders: bad, ..Facts::default() });
            prop_assert!((1.0..=5.0).contains(&s));
        }

        #[test]
        fn a_good_order_never_lowers_the_rating(good in 0i64..1000, bad in 0i64..1000) {
            let r = ranking();
            let before = stars(&r, &Facts { good_orders: good, bad_orders: bad, ..Facts::default() });
            let after = stars(&r, &Facts { good_orders: good + 1, bad_orders: bad, ..Facts::default() });
            prop_assert!(after >= before);
        }
    }
}
