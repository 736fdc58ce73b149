//! The e-commerce rules: an "e-commerce public account" is whatever meets
//! a declared set of requirements. A rule set (data, versioned) names
//! requirements — each a predicate over one fact the platform knows about
//! an account — and the capabilities granted when all of a capability's
//! requirements hold. Evaluation is pure and explains itself: every
//! capability lists exactly the requirements that failed, the fact behind
//! each, and what would satisfy it. The shipped default is
//! `data/ecommerce-rules.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The capabilities the code asks for by name (declared once, here; the
/// rule set in force must declare each, which a test checks for the shipped
/// one): the WeChat Shop API and shop pages,
pub const SHOP_API: &str = "shop_api";
/// stores (POI) and their pay codes,
pub const STORES: &str = "stores";
/// and a listing in the discovery centre.
pub const DISCOVERY_LISTING: &str = "discovery_listing";
/// Every capability the code asks for.
pub const USED_CAPABILITIES: [&str; 3] = [SHOP_API, STORES, DISCOVERY_LISTING];

/// A fact the platform knows about an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The owner can take payments: a direct merchant, or a sub-merchant
    /// whose provider holds `payment_interface`.
    PaymentLive,
    /// The owner's deposit is held in full.
    DepositPaid,
    /// The account is verified.
    AccountVerified,
    /// `service` or `subscription`.
    AccountType,
    /// The owner's category (its fee rule or settlement id).
    Category,
    /// The privileges the owner's provider holds (none for a direct merchant).
    ProviderPrivileges,
    /// Violations recorded against the account and not closed.
    OpenViolations,
}

impl Fact {
    pub const ALL: [Fact; 7] = [
        Fact::PaymentLive,
        Fact::DepositPaid,
        Fact::AccountVerified,
        Fact::AccountType,
        Fact::Category,
        Fact::ProviderPrivileges,
        Fact::OpenViolations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fact::PaymentLive => "payment_live",
            Fact::DepositPaid => "deposit_paid",
            Fact::AccountVerified => "account_verified",
            Fact::AccountType => "account_type",
            Fact::Category => "category",
            Fact::ProviderPrivileges => "provider_privileges",
            Fact::OpenViolations => "open_violations",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Fact::PaymentLive | Fact::DepositPaid | Fact::AccountVerified => Kind::Bool,
            Fact::AccountType | Fact::Category => Kind::Text,
            Fact::ProviderPrivileges => Kind::Set,
            Fact::OpenViolations => Kind::Number,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Text,
    Number,
    Set,
}

/// The facts of one account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Facts {
    pub payment_live: bool,
    pub deposit_paid: bool,
    pub account_verified: bool,
    pub account_type: String,
    pub category: String,
    pub provider_privileges: BTreeSet<String>,
    pub open_violations: i64,
}

impl Facts {
    /// How a fact is shown in an explanation.
    pub fn show(&self, fact: Fact) -> String {
        match fact {
            Fact::PaymentLive => yes_no(self.payment_live),
            Fact::DepositPaid => yes_no(self.deposit_paid),
            Fact::AccountVerified => yes_no(self.account_verified),
            Fact::AccountType => self.account_type.clone(),
            Fact::Category => self.category.clone(),
            Fact::ProviderPrivileges => {
                if self.provider_privileges.is_empty() {
                    "none".into()
                } else {
                    self.provider_privileges.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            }
            Fact::OpenViolations => self.open_violations.to_string(),
        }
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// How a requirement tests its fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    IsTrue,
    IsFalse,
    Equals,
    OneOf,
    AtMost,
    AtLeast,
    Contains,
}

/// A named predicate over one fact.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub name: String,
    pub title: String,
    pub fact: Fact,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// What holding every listed requirement grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    pub name: String,
    pub title: String,
    pub requires: Vec<String>,
}

/// A versioned rule set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub version: i64,
    #[serde(default)]
    pub title: String,
    pub requirements: Vec<Requirement>,
    pub capabilities: Vec<Capability>,
}

/// Why a rule set was refused, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub message: String,
}

/// The line of the first occurrence of `needle` in `text` (1 if absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle).map(|i| text[..i].matches('\n').count() + 1).unwrap_or(1)
}

impl RuleSet {
    /// Reads and checks a rule set: unknown facts, operators and fields,
    /// a value of the wrong type for its fact, duplicate names, and
    /// capabilities naming unknown requirements are refused with the line.
    pub fn parse(text: &str) -> Result<RuleSet, RuleError> {
        let rules: RuleSet =
            serde_json::from_str(text).map_err(|e| RuleError { line: e.line().max(1), message: e.to_string() })?;
        let refuse = |needle: &str, message: String| Err(RuleError { line: line_of(text, needle), message });
        if rules.version < 1 {
            return refuse("\"version\"", "version must be a positive integer".into());
        }
        let mut names = BTreeSet::new();
        for r in &rules.requirements {
            let at = format!("\"{}\"", r.name);
            if r.name.is_empty() || !names.insert(r.name.as_str()) {
                return refuse(&at, format!("requirement {:?} is empty or defined twice", r.name));
            }
            if let Err(m) = check_value(r) {
                return refuse(&at, format!("requirement {:?}: {m}", r.name));
            }
        }
        let mut caps = BTreeSet::new();
        for c in &rules.capabilities {
            let at = format!("\"{}\"", c.name);
            if c.name.is_empty() || !caps.insert(c.name.as_str()) {
                return refuse(&at, format!("capability {:?} is empty or defined twice", c.name));
            }
            if let Some(unknown) = c.requires.iter().find(|n| !names.contains(n.as_str())) {
                return refuse(&at, format!("capability {:?} requires unknown requirement {unknown:?}", c.name));
            }
        }
        Ok(rules)
    }

    /// The rules shipped with Koudai.
    pub fn default_rules() -> &'static RuleSet {
        static RULES: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
        RULES.get_or_init(|| {
            // Compiled in and read by a unit test: a broken file fails the tests.
            RuleSet::parse(DEFAULT_TEXT).unwrap_or(RuleSet {
                version: 1,
                title: String::new(),
                requirements: vec![],
                capabilities: vec![],
            })
        })
    }

    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| c.name == name)
    }
}

/// The shipped default rule set's text.
pub const DEFAULT_TEXT: &str = include_str!("../data/ecommerce-rules.json");

fn check_value(r: &Requirement) -> Result<(), String> {
    let kind = r.fact.kind();
    let v = r.value.as_ref();
    let ok = match r.op {
        Op::IsTrue | Op::IsFalse => kind == Kind::Bool && v.is_none(),
        Op::Equals => kind == Kind::Text && v.is_some_and(Value::is_string),
        Op::OneOf => {
            kind == Kind::Text
                && v.and_then(Value::as_array).is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
        }
        Op::AtMost | Op::AtLeast => kind == Kind::Number && v.is_some_and(Value::is_i64),
        Op::Contains => kind == Kind::Set && v.is_some_and(Value::is_string),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{:?} does not fit fact {} (or its value is missing or of the wrong type)", r.op, r.fact.as_str()))
    }
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or_default()
}

impl Requirement {
    /// Whether the facts satisfy it.
    pub fn holds(&self, f: &Facts) -> bool {
        let v = self.value.as_ref();
        let number = v.and_then(Value::as_i64).unwrap_or_default();
        match (self.op, self.fact) {
            (Op::IsTrue | Op::IsFalse, fact) => {
                let b = match fact {
                    Fact::PaymentLive => f.payment_live,
                    Fact::DepositPaid => f.deposit_paid,
                    Fact::AccountVerified => f.account_verified,
                    _ => return false,
                };
                b == (self.op == Op::IsTrue)
            }
            (Op::Equals, Fact::AccountType) => f.account_type == text(v),
            (Op::Equals, Fact::Category) => f.category == text(v),
            (Op::OneOf, fact) => {
                let actual = if fact == Fact::AccountType { &f.account_type } else { &f.category };
                v.and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x.as_str() == Some(actual.as_str())))
            }
            (Op::AtMost, Fact::OpenViolations) => f.open_violations <= number,
            (Op::AtLeast, Fact::OpenViolations) => f.open_violations >= number,
            (Op::Contains, Fact::ProviderPrivileges) => f.provider_privileges.contains(text(v)),
            _ => false,
        }
    }

    /// What would satisfy it, in words.
    pub fn needed(&self) -> String {
        let v = self.value.as_ref();
        match self.op {
            Op::IsTrue => "yes".into(),
            Op::IsFalse => "no".into(),
            Op::Equals => text(v).to_owned(),
            Op::OneOf => {
                let list: Vec<&str> =
                    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                format!("one of {}", list.join(", "))
            }
            Op::AtMost => format!("at most {}", v.and_then(Value::as_i64).unwrap_or_default()),
            Op::AtLeast => format!("at least {}", v.and_then(Value::as_i64).unwrap_or_default()),
            Op::Contains => format!("includes {}", text(v)),
        }
    }
}

/// A requirement that failed, with the fact behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmet {
    pub requirement: String,
    pub title: String,
    pub fact: String,
    /// The fact's value now.
    pub actual: String,
    /// What would satisfy the requirement.
    pub needed: String,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} is {}, needs {})", self.requirement, self.fact, self.actual, self.needed)
    }
}

/// One capability's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub name: String,
    pub title: String,
    pub granted: bool,
    pub unmet: Vec<Unmet>,
}

/// Every capability's verdict for one account's facts, in the rule set's
/// order.
pub fn evaluate(rules: &RuleSet, facts: &Facts) -> Vec<Verdict> {
    let by_name: BTreeMap<&str, &Requirement> = rules.requirements.iter().map(|r| (r.name.as_str(), r)).collect();
    rules
        .capabilities
        .iter()
        .map(|c| {
            let unmet: Vec<Unmet> = c
                .requires
                .iter()
                .filter_map(|n| by_name.get(n.as_str()))
                .filter(|r| !r.holds(facts))
                .map(|r| Unmet {
                    requirement: r.name.clone(),
                    title: r.title.clone(),
                    fact: r.fact.as_str().to_owned(),
                    actual: facts.show(r.fact),
                    needed: r.needed(),
                })
                .collect();
            Verdict { name: c.name.clone(), title: c.title.clone(), granted: unmet.is_empty(), unmet }
        })
        .collect()
}

/// The verdict on one capability (a capability the rules do not name is
/// never granted).
pub fn verdict<'a>(verdicts: &'a [Verdict], capability: &str) -> Option<&'a Verdict> {
    verdicts.iter().find(|v| v.name == capability)
}

/// Why a refused call was refused, for an `errmsg`.
pub fn explain(v: &Verdict) -> String {
    let unmet: Vec<String> = v.unmet.iter().map(ToString::to_string).collect();
    format!("capability {} not granted: {}", v.name, unmet.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn good() -> Facts {
        Facts {
            payment_live: true,
            deposit_paid: true,
            account_verified: true,
            account_type: "service".into(),
            category: "general".into(),
            provider_privileges: BTreeSet::new(),
            open_violations: 0,
        }
    }

    #[test]
    fn the_default_rules_load_and_grant_a_good_account_everything() {
        let rules = RuleSet::parse(DEFAULT_TEXT).unwrap();
        assert!(evaluate(&rules, &good()).iter().all(|v| v.granted));
        for name in USED_CAPABILITIES {
            assert!(rules.capability(name).is_some(), "the shipped rules do not declare {name}");
        }
    }

    #[test]
    fn an_unpaid_deposit_is_named_with_its_fact() {
        let rules = RuleSet::default_rules();
        let facts = Facts { deposit_paid: false, open_violations: 2, ..good() };
        let v = evaluate(rules, &facts);
        let shop = verdict(&v, "shop_api").unwrap_or_else(|| panic!("shop_api"));
        assert!(!shop.granted);
        let names: Vec<&str> = shop.unmet.iter().map(|u| u.requirement.as_str()).collect();
        assert_eq!(names, ["deposit_paid", "no_open_violations"]);
        assert_eq!(shop.unmet[1].actual, "2");
        assert_eq!(shop.unmet[1].needed, "at most 0");
        assert!(explain(shop).contains("deposit_paid (deposit_paid is no, needs yes)"), "{}", explain(shop));
    }

    #[test]
    fn bad_rule_sets_are_refused_with_the_line() {
        let unknown_fact = DEFAULT_TEXT.replace("\"fact\": \"deposit_paid\"", "\"fact\": \"deposit_payed\"");
        let e = RuleSet::parse(&unknown_fact).err().unwrap_or_else(|| panic!("refused"));
        assert_eq!(e.line, line_of(DEFAULT_TEXT, "\"fact\": \"deposit_paid\""), "{e}");
        assert!(e.message.contains("deposit_payed"), "{e}");
        let wrong_type =
            DEFAULT_TEXT.replace("\"op\": \"at_most\", \"value\": 0", "\"op\": \"at_most\", \"value\": \"0\"");
        let e = RuleSet::parse(&wrong_type).err().unwrap_or_else(|| panic!("refused"));
        assert_eq!(e.line, line_of(DEFAULT_TEXT, "\"no_open_violations\""), "{e}");
        let unknown_req = DEFAULT_TEXT.replace(
            "\"requires\": [\"payment_live\", \"deposit_paid\", \"account_verified\", \"no_open_violations\"]",
            "\"requires\": [\"payment_live\", \"nope\"]",
        );
        let e = RuleSet::parse(&unknown_req).err().unwrap_or_else(|| panic!("refused"));
        assert!(e.message.contains("nope") && e.line == line_of(DEFAULT_TEXT, "\"stores\""), "{e}");
        let e = RuleSet::parse("{\"version\": 1,\n \"requirements\": [], \"capabilities\": [], \"extra\": 1}")
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(e.line, 2, "{e}");
    }

    fn facts() -> impl Strategy<Value = Facts> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just("service"), Just("subscription")],
            prop_oneof![Just("general"), Just("715"), Just("jewellery"), Just("713")],
            0i64..3,
        )
            .prop_map(|(p, d, v, t, c, o)| Facts {
                payment_live: p,
                deposit_paid: d,
                account_verified: v,
                account_type: t.into(),
                category: c.into(),
                provider_privileges: BTreeSet::new(),
                open_violations: o,
            })
    }

    /// Makes one more requirement of the default rules hold.
    fn satisfy(f: &Facts, which: usize) -> Facts {
        let mut f = f.clone();
        match which % 6 {
            0 => f.payment_live = true,
            1 => f.deposit_paid = true,
            2 => f.account_verified = true,
            3 => f.account_type = "service".into(),
            4 => f.category = "general".into(),
            _ => f.open_violations = 0,
        }
        f
    }

    proptest! {
        #[test]
        fn satisfying_a_requirement_never_takes_a_capability_away(f in facts(), which in 0usize..6) {
            let rules = RuleSet::default_rules();
            let before = evaluate(rules, &f);
            let after = evaluate(rules, &satisfy(&f, which));
            for (b, a) in before.iter().zip(&after) {
                prop_assert!(!b.granted || a.granted, "{} lost", b.name);
                prop_assert!(a.unmet.len() <= b.unmet.len());
            }
        }

        #[test]
        fn the_explanation_lists_exactly_the_failing_requirements(f in facts()) {
            let rules = RuleSet::default_rules();
            for v in evaluate(rules, &f) {
                let cap = rules.capability(&v.name).unwrap_or_else(|| panic!("{}", v.name));
                let failing: Vec<&str> = cap
                    .requires
                    .iter()
                    .filter(|n| rules.requirements.iter().any(|r| &r.name == *n && !r.holds(&f)))
                    .map(String::as_str)
                    .collect();
                let listed: Vec<&str> = v.unmet.iter().map(|u| u.requirement.as_str()).collect();
                prop_assert_eq!(&failing, &listed);
                prop_assert_eq!(v.granted, failing.is_empty());
            }
        }
    }
}
