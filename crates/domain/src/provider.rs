//! Service providers and the privileges the operator grants them one by
//! one. The catalogue is data (`data/privileges.json`); the privileges a
//! provider holds are derived from an append-only log of grants and
//! revocations, never stored as a current set.

use std::collections::BTreeMap;

use serde::Deserialize;

crate::text_enum! {
    /// Who runs a provider: the operator's own teams or an outside company.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ProviderKind: "provider kind" {
        Official = "official",
        ThirdParty = "third_party",
    }
}

impl ProviderKind {
    /// How a console shows the kind.
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::Official => "official (operator team)",
            ProviderKind::ThirdParty => "third party",
        }
    }
}

crate::text_enum! {
    /// What a privilege record does.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum GrantAction: "privilege action" {
        Grant = "grant",
        Revoke = "revoke",
    }
}

/// One privilege of the catalogue.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PrivilegeInfo {
    pub key: String,
    pub title: String,
    /// What holding it opens, in a sentence.
    pub opens: String,
}

#[derive(Deserialize)]
struct CatalogueFile {
    privileges: Vec<PrivilegeInfo>,
}

/// The privileges there are.
pub fn catalogue() -> &'static [PrivilegeInfo] {
    static CATALOGUE: std::sync::OnceLock<Vec<PrivilegeInfo>> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // The file is compiled in and a unit test reads it, so a broken
        // catalogue fails the build's tests rather than a request.
        serde_json::from_str::<CatalogueFile>(include_str!("../data/privileges.json"))
            .map(|f| f.privileges)
            .unwrap_or_default()
    })
}

/// The catalogue entry for `key`.
pub fn privilege(key: &str) -> Option<&'static PrivilegeInfo> {
    catalogue().iter().find(|p| p.key == key)
}

/// The privileges the code checks by name.
pub mod keys {
    pub const PAYMENT_INTERFACE: &str = "payment_interface";
    pub const PROFIT_SHARING: &str = "profit_sharing";
    pub const FAST_TRACK_AUDIT: &str = "fast_track_audit";
    pub const CUSTOM_MENU: &str = "custom_menu";
    pub const SHOP_BUILDER: &str = "shop_builder";
}

/// One grant or revocation, as the log keeps it (times: business Unix s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeEvent {
    pub privilege: String,
    pub action: GrantAction,
    pub expires_at: Option<i64>,
    pub at: i64,
}

/// A privilege held at some moment, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub since: i64,
    pub expires_at: Option<i64>,
}

/// The privileges held at `now`, from the log in the order it was written:
/// the last record of each privilege decides, and a grant with an expiry
/// lapses at it.
pub fn held_at(events: &[PrivilegeEvent], now: i64) -> BTreeMap<String, Held> {
    let mut last: BTreeMap<&str, &PrivilegeEvent> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at <= now) {
        last.insert(&e.privilege, e);
    }
    last.into_iter()
        .filter(|(_, e)| e.action == GrantAction::Grant && e.expires_at.is_none_or(|t| t > now))
        .map(|(k, e)| (k.to_owned(), Held { since: e.at, expires_at: e.expires_at }))
        .collect()
}

/// Why a grant or revocation is refused before it is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("no privilege {0:?} in the catalogue")]
    Unknown(String),
    #[error("a reason is required (1 to 500 characters)")]
    Reason,
    #[error("the expiry must be after now")]
    Expiry,
}

/// Checks a grant or revocation: a known privilege, a reason, an expiry in
/// the future.
pub fn check_grant(privilege_key: &str, reason: &str, expires_at: Option<i64>, now: i64) -> Result<(), GrantError> {
    if privilege(privilege_key).is_none() {
        return Err(GrantError::Unknown(privilege_key.to_owned()));
    }
    let n = reason.trim().chars().count();
    if n == 0 || n > 500 {
        return Err(GrantError::Reason);
    }
    if expires_at.is_some_and(|t| t <= now) {
        return Err(GrantError::Expiry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(p: &str, action: GrantAction, at: i64, expires_at: Option<i64>) -> PrivilegeEvent {
        PrivilegeEvent { privilege: p.into(), action, at, expires_at }
    }

    #[test]
    fn the_catalogue_loads_and_has_the_checked_keys() {
        let keys: Vec<&str> = catalogue().iter().map(|p| p.key.as_str()).collect();
        for k in [
            keys::PAYMENT_INTERFACE,
            keys::PROFIT_SHARING,
            keys::FAST_TRACK_AUDIT,
            keys::CUSTOM_MENU,
            keys::SHOP_BUILDER,
        ] {
            assert!(keys.contains(&k), "{k} missing from the catalogue");
        }
    }

    #[test]
    fn the_last_record_decides_and_expiry_lapses() {
        use GrantAction::*;
        let log = vec![
            ev("payment_interface", Grant, 10, None),
            ev("profit_sharing", Grant, 11, Some(100)),
            ev("payment_interface", Revoke, 20, None),
            ev("custom_menu", Grant, 30, None),
            ev("payment_interface", Grant, 40, None),
        ];
        let at = |t| held_at(&log, t).into_keys().collect::<Vec<_>>();
        assert_eq!(at(15), ["payment_interface", "profit_sharing"]);
        assert_eq!(at(25), ["profit_sharing"]);
        assert_eq!(at(45), ["custom_menu", "payment_interface", "profit_sharing"]);
        assert_eq!(at(100), ["custom_menu", "payment_interface"]);
        assert!(held_at(&log, 5).is_empty());
    }

    #[test]
    fn grants_need_a_known_privilege_a_reason_and_a_future_expiry() {
        assert_eq!(check_grant("nope", "r", None, 0), Err(GrantError::Unknown("nope".into())));
        assert_eq!(check_grant("custom_menu", "  ", None, 0), Err(GrantError::Reason));
        assert_eq!(check_grant("custom_menu", "pilot", Some(5), 5), Err(GrantError::Expiry));
        assert_eq!(check_grant("custom_menu", "pilot", Some(6), 5), Ok(()));
    }
}
