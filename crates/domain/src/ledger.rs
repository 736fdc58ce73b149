//! The double-entry rule: every journal entry is a set of postings to
//! accounts whose amounts, in integer fen, sum to zero.
//!
//! Accounts carry a sign convention: a posting of `+n` raises the account's
//! balance by `n`. Money that enters the platform from outside (a wallet
//! top-up paid at a bank counter, say) comes from an *external* account whose
//! balance may go negative; every other account has a floor of zero.

use std::fmt;

/// What an account is for. The owner (consumer, merchant) is kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// A consumer's wallet balance.
    ConsumerWallet,
    /// A merchant's takings that have not been settled yet.
    MerchantPending,
    /// Money that entered the platform from outside it (top-ups); its balance
    /// is the negative of all money ever brought in.
    ExternalFunding,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::ConsumerWallet => "consumer_wallet",
            AccountKind::MerchantPending => "merchant_pending",
            AccountKind::ExternalFunding => "external_funding",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        [AccountKind::ConsumerWallet, AccountKind::MerchantPending, AccountKind::ExternalFunding]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether the balance may go below zero.
    pub fn may_go_negative(self) -> bool {
        matches!(self, AccountKind::ExternalFunding)
    }
}

/// An account is identified by its kind and its owner's id (a consumer login,
/// a `mchid`, or `platform`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountRef {
    pub kind: AccountKind,
    pub owner: String,
}

impl AccountRef {
    pub fn new(kind: AccountKind, owner: impl Into<String>) -> Self {
        AccountRef { kind, owner: owner.into() }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.owner)
    }
}

/// One line of a journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountRef,
    pub amount_fen: i64,
}

/// Why a set of postings is not a valid journal entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("a journal entry needs at least two postings")]
    TooFewPostings,
    #[error("a posting of zero fen says nothing")]
    ZeroPosting,
    #[error("postings sum to {0} fen instead of zero")]
    Unbalanced(i64),
    #[error("amounts overflow")]
    Overflow,
}

/// A balanced journal entry. The only way to build one is [`Entry::new`],
/// which checks the double-entry rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: &'static str,
    postings: Vec<Posting>,
}

impl Entry {
    pub fn new(kind: &'static str, postings: Vec<Posting>) -> Result<Entry, EntryError> {
        if postings.len() < 2 {
            return Err(EntryError::TooFewPostings);
        }
        let mut sum: i64 = 0;
        for p in &postings {
            if p.amount_fen == 0 {
                return Err(EntryError::ZeroPosting);
            }
            sum = sum.checked_add(p.amount_fen).ok_or(EntryError::Overflow)?;
        }
        if sum != 0 {
            return Err(EntryError::Unbalanced(sum));
        }
        Ok(Entry { kind, postings })
    }

    /// Moves `amount_fen` from one account to another.
    pub fn transfer(
        kind: &'static str,
        from: AccountRef,
        to: AccountRef,
        amount_fen: i64,
    ) -> Result<Entry, EntryError> {
        let negated = amount_fen.checked_neg().ok_or(EntryError::Overflow)?;
        Entry::new(kind, vec![Posting { account: from, amount_fen: negated }, Posting { account: to, amount_fen }])
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wallet(owner: &str) -> AccountRef {
        AccountRef::new(AccountKind::ConsumerWallet, owner)
    }

    #[test]
    fn an_entry_must_balance() {
        let p = |amount_fen| Posting { account: wallet("a"), amount_fen };
        assert_eq!(Entry::new("x", vec![p(5), p(-4)]), Err(EntryError::Unbalanced(1)));
        assert_eq!(Entry::new("x", vec![p(5)]), Err(EntryError::TooFewPostings));
        assert_eq!(Entry::new("x", vec![p(0), p(0)]), Err(EntryError::ZeroPosting));
        assert!(Entry::new("x", vec![p(5), p(-5)]).is_ok());
    }

    #[test]
    fn kinds_round_trip() {
        for k in [AccountKind::ConsumerWallet, AccountKind::MerchantPending, AccountKind::ExternalFunding] {
            assert_eq!(AccountKind::parse(k.as_str()), Some(k));
        }
    }

    proptest! {
        #[test]
        fn transfers_always_balance(amount in 1i64..i64::MAX) {
            let e = Entry::transfer("t", wallet("a"), wallet("b"), amount).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(e.postings().iter().map(|p| p.amount_fen).sum::<i64>(), 0);
        }

        #[test]
        fn any_accepted_entry_sums_to_zero(amounts in proptest::collection::vec(-1000i64..1000, 0..6)) {
            let postings: Vec<Posting> = amounts.iter().map(|&a| Posting { account: wallet("a"), amount_fen: a }).collect();
            if let Ok(e) = Entry::new("p", postings) {
                prop_assert_eq!(e.postings().iter().map(|p| p.amount_fen).sum::<i64>(), 0);
                prop_assert!(e.postings().iter().all(|p| p.amount_fen != 0));
            }
        }
    }
}
