//! Property test of the money rules as a whole: random sequences of top-ups,
//! payments, partial refunds (ending in success or closed), settlements,
//! payouts and deposits, applied through the same movements the store posts,
//! keep every invariant of the ledger.

use koudai_domain::fees::{fee_fen, fee_refund_fen, Rate};
use koudai_domain::ledger::{movement, AccountKind as K, AccountRef, Book};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    TopUp { consumer: usize, amount: i64 },
    Pay { consumer: usize, merchant: usize, total: i64 },
    Refund { order: usize, permille: i64 },
    FinishRefund { refund: usize, success: bool },
    Settle { merchant: usize },
    Payout { merchant: usize },
    Deposit { merchant: usize, amount: i64 },
    Release { merchant: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 1..500_000i64).prop_map(|(consumer, amount)| Op::TopUp { consumer, amount }),
        (0..3usize, 0..2usize, 1..200_000i64).prop_map(|(consumer, merchant, total)| Op::Pay {
            consumer,
            merchant,
            total
        }),
        (0..40usize, 1..=1000i64).prop_map(|(order, permille)| Op::Refund { order, permille }),
        (0..40usize, any::<bool>()).prop_map(|(refund, success)| Op::FinishRefund { refund, success }),
        (0..2usize).prop_map(|merchant| Op::Settle { merchant }),
        (0..2usize).prop_map(|merchant| Op::Payout { merchant }),
        (0..2usize, 1..100_000i64).prop_map(|(merchant, amount)| Op::Deposit { merchant, amount }),
        (0..2usize).prop_map(|merchant| Op::Release { merchant }),
    ]
}

struct Order {
    consumer: String,
    mchid: String,
    total: i64,
    fee: i64,
    /// Sum of refunds that still stand (not closed).
    refunded: i64,
    fee_returned: i64,
    settled: bool,
    /// This order's money still in the merchant's pending account.
    pending: i64,
}

struct Refund {
    order: usize,
    amount: i64,
    fee_back: i64,
    /// Where the money came from (pending or available).
    from: K,
    open: bool,
}

const RATES: [i64; 2] = [6_000, 20_000];

fn post(book: &mut Book, entry: Result<koudai_domain::ledger::Entry, koudai_domain::ledger::EntryError>) -> bool {
    match entry {
        Ok(e) => book.post(&e).is_ok(),
        Err(_) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn every_sequence_keeps_the_books(ops in proptest::collection::vec(op(), 1..80)) {
        let mut book = Book::default();
        let mut orders: Vec<Order> = Vec::new();
        let mut refunds: Vec<Refund> = Vec::new();
        let mut fees_charged = 0i64;
        let mut fees_returned = 0i64;
        let consumers = ["c0", "c1", "c2"];
        let merchants = ["m0", "m1"];
        for op in ops {
            match op {
                Op::TopUp { consumer, amount } => {
                    prop_assert!(post(&mut book, movement::top_up(consumers[consumer], amount)));
                }
                Op::Pay { consumer, merchant, total } => {
                    let (login, mchid) = (consumers[consumer], merchants[merchant]);
                    let fee = fee_fen(total, Rate::from_ppm(RATES[merchant]));
                    // Payment and fee are one transaction: both or neither.
                    let mut trial = book.clone();
                    if post(&mut trial, movement::payment(login, mchid, total))
                        && (fee == 0 || post(&mut trial, movement::fee(mchid, fee)))
                    {
                        book = trial;
                        fees_charged += fee;
                        orders.push(Order { consumer: login.into(), mchid: mchid.into(), total, fee, refunded: 0, fee_returned: 0, settled: false, pending: total - fee });
                    } else {
                        prop_assert!(book.balance(&AccountRef::new(K::ConsumerWallet, login)) < total);
                    }
                }
                Op::Refund { order, permille } => {
                    let Some(o) = orders.get_mut(order) else { continue };
                    let amount = (o.total * permille / 1000).max(1);
                    if o.refunded + amount > o.total {
                        continue;
                    }
                    let from = if o.settled { K::MerchantAvailable } else { K::MerchantPending };
                    let back = fee_refund_fen(o.total, o.fee, o.refunded, amount);
                    let mut trial = book.clone();
                    let ok = (back == 0 || post(&mut trial, movement::fee_refund(&o.mchid, from, back)))
                        && post(&mut trial, movement::refund(&o.mchid, from, amount));
                    if ok {
                        book = trial;
                        o.refunded += amount;
                        o.fee_returned += back;
                        fees_returned += back;
                        if !o.settled {
                            o.pending -= amount - back;
                        }
                        refunds.push(Refund { order, amount, fee_back: back, from, open: true });
                    } else {
                        // Only a settled order's refund can fail: its money may be paid out.
                        prop_assert!(o.settled);
                    }
                }
                Op::FinishRefund { refund, success } => {
                    let Some(r) = refunds.get_mut(refund) else { continue };
                    if !r.open {
                        continue;
                    }
                    r.open = false;
                    let o = &mut orders[r.order];
                    if success {
                        prop_assert!(post(&mut book, movement::refund_success(&o.consumer, r.amount)));
                    } else {
                        // Closed: money back where the order's money now is.
                        let to = if o.settled { K::MerchantAvailable } else { K::MerchantPending };
                        let mut trial = book.clone();
                        prop_assert!(post(&mut trial, movement::refund_reversal(&o.mchid, to, r.amount)));
                        prop_assert!(r.fee_back == 0 || post(&mut trial, movement::fee_refund_reversal(&o.mchid, to, r.fee_back)));
                        book = trial;
                        o.refunded -= r.amount;
                        o.fee_returned -= r.fee_back;
                        fees_returned -= r.fee_back;
                        if !o.settled {
                            o.pending += r.amount - r.fee_back;
                        }
                        let _ = r.from;
                    }
                }
                Op::Settle { merchant } => {
                    let mchid = merchants[merchant];
                    let due: i64 = orders.iter().filter(|o| o.mchid == mchid && !o.settled).map(|o| o.pending).sum();
                    if due > 0 {
                        prop_assert!(post(&mut book, movement::settlement(mchid, due)));
                    }
                    for o in orders.iter_mut().filter(|o| o.mchid == mchid && !o.settled) {
                        o.settled = true;
                        o.pending = 0;
                    }
                }
                Op::Payout { merchant } => {
                    let mchid = merchants[merchant];
                    let available = book.balance(&AccountRef::new(K::MerchantAvailable, mchid));
                    if available > 0 {
                        prop_assert!(post(&mut book, movement::payout(mchid, available)));
                        prop_assert!(post(&mut book, movement::payout_confirmed(mchid, available)));
                    }
                }
                Op::Deposit { merchant, amount } => {
                    prop_assert!(post(&mut book, movement::deposit_paid(merchants[merchant], amount)));
                }
                Op::Release { merchant } => {
                    let mchid = merchants[merchant];
                    let held = book.balance(&AccountRef::new(K::MerchantDeposit, mchid));
                    if held > 0 {
                        prop_assert!(post(&mut book, movement::deposit_released(mchid, held)));
                    }
                }
            }

            // Invariants after every step.
            prop_assert_eq!(book.total(), 0);
            prop_assert!(book.below_floor().is_empty(), "{:?}", book.below_floor());
            prop_assert_eq!(book.balance(&AccountRef::platform(K::PlatformFeeIncome)), fees_charged - fees_returned);
            let in_flight: i64 = refunds.iter().filter(|r| r.open).map(|r| r.amount).sum();
            prop_assert_eq!(book.balance(&AccountRef::platform(K::RefundClearing)), in_flight);
            prop_assert_eq!(book.balance(&AccountRef::platform(K::PayoutClearing)), 0);
            for mchid in merchants {
                let pending: i64 = orders.iter().filter(|o| o.mchid == mchid).map(|o| o.pending).sum();
                prop_assert_eq!(book.balance(&AccountRef::new(K::MerchantPending, mchid)), pending);
            }
            for o in &orders {
                prop_assert!(o.refunded >= 0 && o.refunded <= o.total);
                prop_assert!(o.fee_returned >= 0 && o.fee_returned <= o.fee);
                if o.refunded == o.total {
                    prop_assert_eq!(o.fee_returned, o.fee);
                }
            }
        }
    }
}
