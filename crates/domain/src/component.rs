//! The third-party platform (protocol notes `wechat-mp.md` §6): which
//! permission sets an account owner may grant a provider, and which sets an
//! API needs. The sets, the operator privilege behind each and the
//! lifetimes are data (`data/component.json`), so an operator reads the
//! rule rather than the code.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// One permission set (`funcscope_category.id`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PermissionSet {
    pub id: i64,
    pub name: String,
    /// Held by one third party at a time for an account.
    #[serde(default)]
    pub exclusive: bool,
    /// The operator privilege a provider needs before an account may grant
    /// it this set; none: any provider.
    #[serde(default)]
    pub privilege: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ComponentRules {
    pub ticket_interval_s: i64,
    pub ticket_lifetime_s: i64,
    pub component_token_lifetime_s: i64,
    pub pre_auth_code_lifetime_s: i64,
    pub auth_code_lifetime_s: i64,
    pub authorizer_token_lifetime_s: i64,
    pub sets: Vec<PermissionSet>,
    /// The sets an mp API accepts (any one of them suffices).
    pub apis: BTreeMap<String, Vec<i64>>,
}

/// The rules shipped with Koudai.
pub fn rules() -> &'static ComponentRules {
    static RULES: std::sync::OnceLock<ComponentRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        // Compiled in and read by a unit test: a broken file fails the tests.
        serde_json::from_str(include_str!("../data/component.json")).unwrap_or(ComponentRules {
            ticket_interval_s: 600,
            ticket_lifetime_s: 43_200,
            component_token_lifetime_s: 7200,
            pre_auth_code_lifetime_s: 1800,
            auth_code_lifetime_s: 600,
            authorizer_token_lifetime_s: 7200,
            sets: vec![],
            apis: BTreeMap::new(),
        })
    })
}

/// The set with this id.
pub fn set(id: i64) -> Option<&'static PermissionSet> {
    rules().sets.iter().find(|s| s.id == id)
}

/// Why one requested set cannot be granted to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRefusal {
    pub id: i64,
    pub reason: String,
}

/// Checks the sets an account owner wants to grant against the privileges
/// the provider holds: every refusal, with its reason. The sets must be
/// known and not repeated.
pub fn check_grant(requested: &[i64], held: &BTreeSet<String>) -> Vec<SetRefusal> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for &id in requested {
        if !seen.insert(id) {
            out.push(SetRefusal { id, reason: format!("permission set {id} is listed twice") });
            continue;
        }
        match set(id) {
            None => out.push(SetRefusal { id, reason: format!("there is no permission set {id}") }),
            Some(s) => {
                if let Some(p) = s.privilege.as_deref().filter(|p| !held.contains(*p)) {
                    out.push(SetRefusal {
                        id,
                        reason: format!(
                            "permission set {id} ({}) needs the operator privilege {p}, which this provider does not hold",
                            s.name
                        ),
                    });
                }
            }
        }
    }
    out
}

/// Whether a call of `api` is allowed with these granted sets; `None` when
/// the API needs no set.
pub fn needed_sets(api: &str) -> Option<&'static [i64]> {
    let apis = &rules().apis;
    apis.get(api).map(Vec::as_slice).or_else(|| {
        // `merchant/*` covers every `merchant/…` API.
        let (family, _) = api.split_once('/')?;
        apis.get(&format!("{family}/*")).map(Vec::as_slice)
    })
}

/// Formats granted sets for storage (`1,3,15`), sorted.
pub fn format_sets(ids: &[i64]) -> String {
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    set.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Reads stored sets; anything unreadable is dropped.
pub fn parse_sets(text: &str) -> Vec<i64> {
    text.split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_parse_and_name_real_privileges() {
        let parsed: ComponentRules = serde_json::from_str(include_str!("../data/component.json")).unwrap();
        assert!(parsed.sets.iter().any(|s| s.id == 15 && s.privilege.as_deref() == Some("custom_menu")));
        assert!(parsed.sets.iter().any(|s| s.id == 4 && s.exclusive));
        for s in &parsed.sets {
            if let Some(p) = &s.privilege {
                assert!(crate::provider::privilege(p).is_some(), "set {} names unknown privilege {p}", s.id);
            }
        }
        for (api, ids) in &parsed.apis {
            for id in ids {
                assert!(parsed.sets.iter().any(|s| s.id == *id), "{api} needs unknown set {id}");
            }
        }
    }

    #[test]
    fn a_set_behind_a_privilege_is_refused_without_it() {
        let none = BTreeSet::new();
        let refused = check_grant(&[1, 15, 99, 1], &none);
        let ids: Vec<i64> = refused.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![15, 99, 1]);
        assert!(refused[0].reason.contains("custom_menu"));
        let held: BTreeSet<String> = ["custom_menu".to_owned()].into();
        assert!(check_grant(&[1, 15], &held).is_empty());
        assert_eq!(needed_sets("merchant/order/getbyid"), Some(&[5][..]));
        assert_eq!(needed_sets("menu/create"), Some(&[15][..]));
        assert_eq!(needed_sets("token"), None);
    }

    #[test]
    fn sets_round_trip_sorted() {
        assert_eq!(format_sets(&[15, 1, 3]), "1,3,15");
        assert_eq!(parse_sets("1,3,15"), vec![1, 3, 15]);
        assert_eq!(parse_sets(""), Vec::<i64>::new());
    }
}
