//! The double-entry rule: every journal entry is a set of postings to
//! accounts whose amounts, in integer fen, sum to zero.
//!
//! Accounts carry a sign convention: a posting of `+n` raises the account's
//! balance by `n`. Money that enters the platform from outside (a wallet
//! top-up paid at a bank counter, a merchant's deposit) comes from the
//! *external funding* account, whose balance may go negative; every other
//! account has a floor of zero. So the balances of all accounts always sum
//! to zero, and `-external_funding` is all the money the platform holds or
//! has paid out. The chart of accounts is described in `docs/ledger.md`.

use std::fmt;

crate::text_enum! {
    /// What an account is for. The owner (consumer, merchant) is kept beside it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AccountKind: "account kind" {
        /// A consumer's wallet balance.
        ConsumerWallet = "consumer_wallet",
        /// A merchant's takings that have not been settled yet (net of fees and
        /// of refunds taken from them).
        MerchantPending = "merchant_pending",
        /// A merchant's settled funds, waiting for the next payout.
        MerchantAvailable = "merchant_available",
        /// A merchant's deposit.
        MerchantDeposit = "merchant_deposit",
        /// Fees the platform has earned (owner `platform`).
        PlatformFeeIncome = "platform_fee_income",
        /// Refunds taken from a merchant and not yet in the consumer's wallet
        /// (owner `platform`).
        RefundClearing = "refund_clearing",
        /// Payouts sent to a bank and not yet confirmed by it (owner `platform`).
        PayoutClearing = "payout_clearing",
        /// Shares and returns of profit sharing on their way (owner
        /// `platform`): taken from the payer of the share, not yet credited
        /// to the receiver.
        SharingClearing = "sharing_clearing",
        /// Everything ever paid out to a merchant's bank account (owner: the
        /// `mchid`); money that has left the platform.
        PaidOut = "paid_out",
        /// Money that entered the platform from outside it (top-ups, deposits);
        /// its balance is the negative of all money ever brought in.
        ExternalFunding = "external_funding",
    }
}

impl AccountKind {
    /// Whether the balance may go below zero.
    pub fn may_go_negative(self) -> bool {
        matches!(self, AccountKind::ExternalFunding)
    }
}

/// The owner of the platform's own accounts.
pub const PLATFORM: &str = "platform";

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

    /// One of the platform's own accounts (fee income, clearing, funding).
    pub fn platform(kind: AccountKind) -> Self {
        AccountRef::new(kind, PLATFORM)
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

crate::text_enum! {
    /// What a journal entry records: one kind per money movement of the
    /// platform (see [`movement`]). The stored name is [`MovementKind::as_str`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum MovementKind: "movement kind" {
        TopUp = "wallet_top_up",
        Payment = "payment",
        Fee = "fee",
        Refund = "refund",
        FeeRefund = "fee_refund",
        RefundSuccess = "refund_success",
        RefundReversal = "refund_reversal",
        FeeRefundReversal = "fee_refund_reversal",
        Settlement = "settlement",
        Payout = "payout",
        PayoutConfirmed = "payout_confirmed",
        DepositPaid = "deposit_paid",
        DepositReleased = "deposit_released",
        ProfitShare = "profit_share",
        ProfitShareSuccess = "profit_share_success",
        ProfitShareReversal = "profit_share_reversal",
        ProfitShareReturn = "profit_share_return",
        ProfitShareReturnSuccess = "profit_share_return_success",
    }
}

/// A balanced journal entry. The only way to build one is [`Entry::new`],
/// which checks the double-entry rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: MovementKind,
    postings: Vec<Posting>,
}

impl Entry {
    pub fn new(kind: MovementKind, postings: Vec<Posting>) -> Result<Entry, EntryError> {
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
        kind: MovementKind,
        from: AccountRef,
        to: AccountRef,
        amount_fen: i64,
    ) -> Result<Entry, EntryError> {
        let negated = amount_fen.checked_neg().ok_or(EntryError::Overflow)?;
        Entry::new(kind, vec![Posting { account: from, amount_fen: negated }, Posting { account: to, amount_fen }])
    }

    pub fn kind(&self) -> MovementKind {
        self.kind
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }
}

/// Every money movement of the platform as the journal entry that records
/// it. The store posts exactly these; `docs/ledger.md` lists them.
pub mod movement {
    use super::{AccountKind as K, AccountRef, Entry, EntryError, MovementKind as M};

    fn m(kind: K, mchid: &str) -> AccountRef {
        AccountRef::new(kind, mchid)
    }

    /// Money from outside into a consumer's wallet.
    pub fn top_up(login: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::TopUp,
            AccountRef::platform(K::ExternalFunding),
            AccountRef::new(K::ConsumerWallet, login),
            amount_fen,
        )
    }

    /// A payment: the whole amount from the wallet to the merchant's pending funds.
    pub fn payment(login: &str, mchid: &str, total_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::Payment, AccountRef::new(K::ConsumerWallet, login), m(K::MerchantPending, mchid), total_fen)
    }

    /// The fee on a payment, from the merchant's pending funds to fee income.
    pub fn fee(mchid: &str, fee_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::Fee, m(K::MerchantPending, mchid), AccountRef::platform(K::PlatformFeeIncome), fee_fen)
    }

    /// A refund leaving the merchant (`from` is its pending or available
    /// account) into refund clearing.
    pub fn refund(mchid: &str, from: K, refund_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::Refund, m(from, mchid), AccountRef::platform(K::RefundClearing), refund_fen)
    }

    /// The part of the fee a refund gives back to the merchant.
    pub fn fee_refund(mchid: &str, to: K, fee_back_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::FeeRefund, AccountRef::platform(K::PlatformFeeIncome), m(to, mchid), fee_back_fen)
    }

    /// A refund arriving in the consumer's wallet.
    pub fn refund_success(login: &str, refund_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::RefundSuccess,
            AccountRef::platform(K::RefundClearing),
            AccountRef::new(K::ConsumerWallet, login),
            refund_fen,
        )
    }

    /// A closed refund's money going back to the merchant.
    pub fn refund_reversal(mchid: &str, to: K, refund_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::RefundReversal, AccountRef::platform(K::RefundClearing), m(to, mchid), refund_fen)
    }

    /// A closed refund's fee share going back to fee income.
    pub fn fee_refund_reversal(mchid: &str, from: K, fee_back_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::FeeRefundReversal, m(from, mchid), AccountRef::platform(K::PlatformFeeIncome), fee_back_fen)
    }

    /// Settled funds: pending to available.
    pub fn settlement(mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::Settlement, m(K::MerchantPending, mchid), m(K::MerchantAvailable, mchid), amount_fen)
    }

    /// A payout sent to the merchant's bank.
    pub fn payout(mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::Payout, m(K::MerchantAvailable, mchid), AccountRef::platform(K::PayoutClearing), amount_fen)
    }

    /// The bank confirmed a payout: the money has left the platform.
    pub fn payout_confirmed(mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::PayoutConfirmed, AccountRef::platform(K::PayoutClearing), m(K::PaidOut, mchid), amount_fen)
    }

    /// A deposit paid in from outside.
    pub fn deposit_paid(mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::DepositPaid,
            AccountRef::platform(K::ExternalFunding),
            m(K::MerchantDeposit, mchid),
            amount_fen,
        )
    }

    /// A deposit released to the merchant's available funds (paid out with them).
    pub fn deposit_released(mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::DepositReleased, m(K::MerchantDeposit, mchid), m(K::MerchantAvailable, mchid), amount_fen)
    }
}

/// Where a profit share lands: a merchant's available funds (a provider's
/// commission, a brand's cut) or a consumer's wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareTarget {
    Merchant(String),
    Consumer(String),
}

impl ShareTarget {
    pub fn account(&self) -> AccountRef {
        match self {
            ShareTarget::Merchant(mchid) => AccountRef::new(AccountKind::MerchantAvailable, mchid.as_str()),
            ShareTarget::Consumer(login) => AccountRef::new(AccountKind::ConsumerWallet, login.as_str()),
        }
    }
}

/// Profit sharing as journal entries: a share leaves the merchant's frozen
/// (pending) funds into sharing clearing when it is asked for, and reaches
/// the receiver when it finishes, or goes back if it is closed. A return
/// runs the other way, from the receiver's available funds back to the
/// merchant's.
pub mod sharing {
    use super::{AccountKind as K, AccountRef, Entry, EntryError, MovementKind as M, ShareTarget};

    pub fn share(mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::ProfitShare,
            AccountRef::new(K::MerchantPending, mchid),
            AccountRef::platform(K::SharingClearing),
            amount_fen,
        )
    }

    pub fn share_success(to: &ShareTarget, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(M::ProfitShareSuccess, AccountRef::platform(K::SharingClearing), to.account(), amount_fen)
    }

    /// A closed share back to the merchant: to its pending funds, or to
    /// its available funds if the order settled meanwhile.
    pub fn share_reversal(mchid: &str, to: K, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::ProfitShareReversal,
            AccountRef::platform(K::SharingClearing),
            AccountRef::new(to, mchid),
            amount_fen,
        )
    }

    pub fn share_return(from_mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::ProfitShareReturn,
            AccountRef::new(K::MerchantAvailable, from_mchid),
            AccountRef::platform(K::SharingClearing),
            amount_fen,
        )
    }

    pub fn return_success(to_mchid: &str, amount_fen: i64) -> Result<Entry, EntryError> {
        Entry::transfer(
            M::ProfitShareReturnSuccess,
            AccountRef::platform(K::SharingClearing),
            AccountRef::new(K::MerchantAvailable, to_mchid),
            amount_fen,
        )
    }
}

/// Balances kept in memory under the same floor rule as the store: what the
/// property tests run whole scenarios against.
#[derive(Debug, Default, Clone)]
pub struct Book {
    balances: std::collections::HashMap<AccountRef, i64>,
    entries: usize,
}

impl Book {
    /// Applies an entry, or nothing if an account would go below its floor.
    pub fn post(&mut self, entry: &Entry) -> Result<(), AccountRef> {
        let mut next = Vec::with_capacity(entry.postings().len());
        for p in entry.postings() {
            let already: i64 = next.iter().filter(|(a, _): &&(AccountRef, i64)| *a == p.account).map(|(_, d)| *d).sum();
            let after = self.balance(&p.account) + already + p.amount_fen;
            if after < 0 && !p.account.kind.may_go_negative() {
                return Err(p.account.clone());
            }
            next.push((p.account.clone(), p.amount_fen));
        }
        for (account, delta) in next {
            *self.balances.entry(account).or_insert(0) += delta;
        }
        self.entries += 1;
        Ok(())
    }

    pub fn balance(&self, account: &AccountRef) -> i64 {
        self.balances.get(account).copied().unwrap_or(0)
    }

    /// Sum of every balance: zero in a consistent book.
    pub fn total(&self) -> i64 {
        self.balances.values().sum()
    }

    /// Accounts below their floor (none in a consistent book).
    pub fn below_floor(&self) -> Vec<AccountRef> {
        self.balances.iter().filter(|(a, b)| **b < 0 && !a.kind.may_go_negative()).map(|(a, _)| a.clone()).collect()
    }

    pub fn entries(&self) -> usize {
        self.entries
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
        let x = MovementKind::TopUp;
        assert_eq!(Entry::new(x, vec![p(5), p(-4)]), Err(EntryError::Unbalanced(1)));
        assert_eq!(Entry::new(x, vec![p(5)]), Err(EntryError::TooFewPostings));
        assert_eq!(Entry::new(x, vec![p(0), p(0)]), Err(EntryError::ZeroPosting));
        assert!(Entry::new(x, vec![p(5), p(-5)]).is_ok());
    }

    #[test]
    fn kinds_round_trip() {
        for k in AccountKind::ALL {
            assert_eq!(AccountKind::parse(k.as_str()), Some(k));
            assert_eq!(AccountKind::try_from(k.as_str().to_owned()), Ok(k));
        }
        for k in MovementKind::ALL {
            assert_eq!(k.as_str().parse::<MovementKind>(), Ok(k));
        }
        // The stored names are a contract with existing databases and docs/ledger.md.
        assert_eq!(MovementKind::TopUp.as_str(), "wallet_top_up");
        assert!("wallet_topup".parse::<MovementKind>().is_err());
        assert!("Payment".parse::<AccountKind>().is_err());
    }

    proptest! {
        #[test]
        fn transfers_always_balance(amount in 1i64..i64::MAX) {
            let e = Entry::transfer(MovementKind::Payment, wallet("a"), wallet("b"), amount).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(e.postings().iter().map(|p| p.amount_fen).sum::<i64>(), 0);
        }

        #[test]
        fn any_accepted_entry_sums_to_zero(amounts in proptest::collection::vec(-1000i64..1000, 0..6)) {
            let postings: Vec<Posting> = amounts.iter().map(|&a| Posting { account: wallet("a"), amount_fen: a }).collect();
            if let Ok(e) = Entry::new(MovementKind::Payment, postings) {
                prop_assert_eq!(e.postings().iter().map(|p| p.amount_fen).sum::<i64>(), 0);
                prop_assert!(e.postings().iter().all(|p| p.amount_fen != 0));
            }
        }
    }
}
