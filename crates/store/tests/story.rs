//! The store story: the same behaviour checked on SQLite always and on
//! PostgreSQL when `TEST_DATABASE_URL` points at a server (CI sets it).

use std::sync::Arc;

use koudai_domain::ledger::{AccountKind, AccountRef};
use koudai_domain::refund::RefundStatus;
use koudai_domain::{TradeState, TradeType};
use koudai_store::*;

async fn stores() -> Vec<Store> {
    let mut urls = vec![scratch_sqlite_url("koudai-store-test").unwrap_or_else(|e| panic!("{e}"))];
    if let Ok(admin) = std::env::var("TEST_DATABASE_URL") {
        urls.push(scratch_postgres_database(&admin, "koudai_store_test").await.unwrap_or_else(|e| panic!("{e}")));
    }
    let mut out = Vec::new();
    for url in urls {
        let s = Store::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
        s.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        // Migrating twice is a no-op.
        s.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        out.push(s);
    }
    out
}

/// A schedule in force since 1970, so the story's small timestamps have one.
pub const TEST_SCHEDULE: &str = r#"{"version":"test","effective_from":"1970-01-01T08:00:00+08:00","rules":[
  {"id":"general","name":"general","rate":"0.60%","cycle_days":1,"deposit_fen":5000000},
  {"id":"virtual_goods","name":"virtual","rate":"2.00%","cycle_days":7,"deposit_fen":5000000}]}"#;

async fn world(s: &Store) {
    s.load_fee_schedule(TEST_SCHEDULE, 0).await.unwrap_or_else(|e| panic!("{e}"));
    s.create_merchant(&NewMerchant {
        mchid: "1900000001".into(),
        name: "Shop".into(),
        key_mode: KeyMode::PublicKey,
        apiv3_key: "k".repeat(32).into(),
        certificate: MerchantCertificate {
            serial_no: "5157f09efdc096de15ebe81a47057a7232f1b8e1".into(),
            certificate_pem: "pem".into(),
            public_key_pem: "pub".into(),
            not_after: 2_000_000_000,
        },
        created_at: 0,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    s.create_app("wxapp", "App", 0).await.unwrap_or_else(|e| panic!("{e}"));
    s.bind_app("wxapp", "1900000001").await.unwrap_or_else(|e| panic!("{e}"));
    s.create_consumer("alice", "hash", 0).await.unwrap_or_else(|e| panic!("{e}"));
}

fn order(out_trade_no: &str, total_fen: i64, n: u32) -> NewOrderRecord {
    NewOrderRecord {
        mchid: "1900000001".into(),
        appid: "wxapp".into(),
        out_trade_no: out_trade_no.into(),
        trade_type: TradeType::Native,
        description: "thing".into(),
        attach: None,
        notify_url: "http://127.0.0.1:1/n".into(),
        total_fen,
        payer_openid: None,
        device_id: None,
        params_digest: "d".into(),
        time_expire: 10_000,
        created_at: 100,
        prepay_id: format!("wxprepay{n}"),
        prepay_expires_at: 7300,
        pay_token: format!("tok{n}"),
    }
}

fn pay(token: &str, n: u32) -> PayCommand {
    PayCommand {
        locator: OrderLocator::PayToken(token.into()),
        consumer_login: "alice".into(),
        now: 200,
        outcome: PayOutcome::Success,
        transaction_id: format!("4200{n}"),
        fresh_openid: "oALICE".into(),
    }
}

fn note(o: &Order) -> Result<NewNotification, String> {
    Ok(NewNotification {
        event_id: format!("ev-{}", o.out_trade_no),
        mchid: o.mchid.clone(),
        reference: o.out_trade_no.clone(),
        event_type: "TRANSACTION.SUCCESS".into(),
        notify_url: o.notify_url.clone(),
        body: "{}".into(),
        next_attempt_at: 200,
        created_at: 200,
    })
}

#[tokio::test]
async fn order_lifecycle_and_outbox() {
    for s in stores().await {
        world(&s).await;
        assert!(s
            .merchant_certificate("1900000001", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
            .await
            .ok()
            .flatten()
            .is_some());
        s.top_up("alice", 1000, "topup-1", 0).await.unwrap_or_else(|e| panic!("{e}"));

        let created = s.create_order(&order("T000001", 300, 1)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(created, CreateOutcome::Created(_)));
        let again = s.create_order(&order("T000001", 300, 2)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(again, CreateOutcome::Existing(ref o) if o.prepay_id == "wxprepay1"));

        let paid = s.pay_order(&pay("tok1", 1), note).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paid.stored_state, TradeState::Success);
        assert_eq!(paid.payer_openid.as_deref(), Some("oALICE"));
        assert!(matches!(s.pay_order(&pay("tok1", 9), note).await, Err(PayError::AlreadyPaid)));
        assert_eq!(s.balance(&AccountRef::new(AccountKind::ConsumerWallet, "alice")).await.ok(), Some(700));
        // 300 fen at 0.6% is 1.8 fen of fee, rounded to 2.
        assert_eq!(paid.fee_fen, 2);
        assert_eq!(s.balance(&AccountRef::new(AccountKind::MerchantPending, "1900000001")).await.ok(), Some(298));
        assert_eq!(s.balance(&AccountRef::platform(AccountKind::PlatformFeeIncome)).await.ok(), Some(2));

        // Closing: unpaid closes, paid refuses.
        s.create_order(&order("T000002", 50, 3)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.close_order("1900000001", "T000002", 300).await.ok().map(|o| o.stored_state),
            Some(TradeState::Closed)
        );
        assert!(matches!(s.pay_order(&pay("tok3", 3), note).await, Err(PayError::Closed)));
        assert!(matches!(s.close_order("1900000001", "T000001", 300).await, Err(CloseError::AlreadyPaid)));

        // Too expensive: nothing moves, the order stays unpaid.
        s.create_order(&order("T000003", 5000, 4)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(s.pay_order(&pay("tok4", 4), note).await, Err(PayError::NotEnough)));
        assert_eq!(
            s.order_by_out_trade_no("1900000001", "T000003").await.ok().flatten().map(|o| o.stored_state),
            Some(TradeState::NotPay)
        );
        assert_eq!(s.balance(&AccountRef::new(AccountKind::ConsumerWallet, "alice")).await.ok(), Some(700));

        // Expiry.
        assert_eq!(s.expire_orders(10_000).await.ok(), Some(1));

        // Outbox: claimed once under a lease, attempts recorded.
        let claimed = s.claim_due_notifications(200, 1000, 1030, 10).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claimed.len(), 1);
        assert!(s.claim_due_notifications(200, 1000, 1030, 10).await.unwrap_or_default().is_empty());
        let a = Attempt { attempt_no: 1, attempted_at: 200, http_status: Some(500), error: None, duration_ms: 3 };
        s.record_attempt(claimed[0].id, &a, AfterAttempt::RetryAt(215)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(s.claim_due_notifications(214, 1000, 1030, 10).await.unwrap_or_default().is_empty());
        assert_eq!(s.claim_due_notifications(215, 1000, 1030, 10).await.unwrap_or_default().len(), 1);
        let listed = s.notifications_for(Some("1900000001"), "T000001").await.unwrap_or_default();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1, vec![a]);

        assert_eq!(s.ledger_problems().await.unwrap_or_else(|e| panic!("{e}")), Vec::<String>::new());
        s.close().await;
    }
}

#[tokio::test]
async fn concurrent_payments_never_overdraw_a_wallet() {
    for s in stores().await {
        world(&s).await;
        s.top_up("alice", 1000, "topup-1", 0).await.unwrap_or_else(|e| panic!("{e}"));
        for n in 0..20u32 {
            s.create_order(&order(&format!("C{n:06}"), 100, n)).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for n in 0..20u32 {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move { s.pay_order(&pay(&format!("tok{n}"), n), note).await }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(_) => ok += 1,
                Err(PayError::NotEnough) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(ok, 10);
        assert_eq!(s.balance(&AccountRef::new(AccountKind::ConsumerWallet, "alice")).await.ok(), Some(0));
        assert_eq!(s.ledger_problems().await.unwrap_or_else(|e| panic!("{e}")), Vec::<String>::new());
    }
}

fn refund_request(out_refund_no: &str, refund_fen: i64, n: u32) -> RefundRequest {
    RefundRequest {
        mchid: "1900000001".into(),
        target: RefundTarget::OutTradeNo("R000001".into()),
        out_refund_no: out_refund_no.into(),
        reason: None,
        notify_url: None,
        refund_fen,
        total_fen: 1000,
        params_digest: format!("d{refund_fen}"),
        refund_id: format!("5030{n}"),
        now: 300,
    }
}

fn refund_note(r: &Refund, o: &Order) -> Result<NewNotification, String> {
    Ok(NewNotification {
        event_id: format!("ev-{}-{}", r.refund_id, r.status),
        mchid: o.mchid.clone(),
        reference: r.out_refund_no.clone(),
        event_type: r.status.event().map(|e| e.0).unwrap_or("?").into(),
        notify_url: r.notify_url.clone(),
        body: "{}".into(),
        next_attempt_at: 300,
        created_at: 300,
    })
}

/// A paid order R000001 of 10.00 (fee 6 fen) for the refund stories.
async fn paid_order(s: &Store) -> Order {
    world(s).await;
    s.top_up("alice", 5000, "topup-1", 0).await.unwrap_or_else(|e| panic!("{e}"));
    s.create_order(&order("R000001", 1000, 1)).await.unwrap_or_else(|e| panic!("{e}"));
    let o = s.pay_order(&pay("tok1", 1), note).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.fee_fen, 6);
    o
}

#[tokio::test]
async fn concurrent_refunds_never_refund_twice() {
    for s in stores().await {
        paid_order(&s).await;
        let s = Arc::new(s);
        // 20 refunds of 1.00 against a 10.00 order: exactly ten succeed.
        let mut tasks = Vec::new();
        for n in 0..20u32 {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move { s.create_refund(&refund_request(&format!("RF{n}"), 100, n)).await }));
        }
        // And the same out_refund_no ten times at once: one refund.
        for n in 0..10u32 {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move { s.create_refund(&refund_request("SAME", 100, 100 + n)).await }));
        }
        let (mut created, mut existing, mut refused) = (0, 0, 0);
        for t in tasks {
            match t.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(RefundCreated::Created(..)) => created += 1,
                Ok(RefundCreated::Existing(r, _)) => {
                    assert_eq!(r.out_refund_no, "SAME");
                    existing += 1
                }
                Err(RefundError::Refused(_)) => refused += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(created, 10);
        assert_eq!(created + existing + refused, 30);
        let o = s.order_by_out_trade_no("1900000001", "R000001").await.ok().flatten();
        let o = o.unwrap_or_else(|| panic!("order"));
        assert_eq!((o.refunded_fen, o.fee_refunded_fen, o.stored_state), (1000, 6, TradeState::Refund));
        // Fully refunded: the whole fee came back and nothing is pending.
        assert_eq!(s.balance(&AccountRef::platform(AccountKind::PlatformFeeIncome)).await.ok(), Some(0));
        assert_eq!(s.balance(&AccountRef::new(AccountKind::MerchantPending, "1900000001")).await.ok(), Some(0));
        assert_eq!(s.balance(&AccountRef::platform(AccountKind::RefundClearing)).await.ok(), Some(1000));
        assert_eq!(s.ledger_problems().await.unwrap_or_else(|e| panic!("{e}")), Vec::<String>::new());
    }
}

#[tokio::test]
async fn refunds_finish_settle_and_pay_out() {
    for s in stores().await {
        paid_order(&s).await;
        let created = s.create_refund(&refund_request("A", 300, 1)).await.unwrap_or_else(|e| panic!("{e}"));
        let RefundCreated::Created(a, _) = created else { panic!("not created") };
        assert_eq!((a.status, a.fee_refund_fen, a.funds_account.as_str()), (RefundStatus::Processing, 2, "UNSETTLED"));
        assert_eq!(s.due_refunds(300 + 59, 10).await.unwrap_or_default(), vec![]);
        assert_eq!(s.due_refunds(300 + 60, 10).await.unwrap_or_default().len(), 1);
        let done = s.finish_refund(a.id, RefundStatus::Success, 400, Box::new(refund_note)).await;
        let (a, _) = done.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("finished"));
        assert_eq!((a.status, a.success_time), (RefundStatus::Success, Some(400)));
        // Finishing twice does nothing.
        assert!(matches!(s.finish_refund(a.id, RefundStatus::Closed, 400, Box::new(refund_note)).await, Ok(None)));
        assert_eq!(s.balance(&AccountRef::new(AccountKind::ConsumerWallet, "alice")).await.ok(), Some(4300));

        // A second refund closes: money and fee share go back.
        let RefundCreated::Created(b, _) =
            s.create_refund(&refund_request("B", 200, 2)).await.unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("not created")
        };
        s.finish_refund(b.id, RefundStatus::Abnormal, 400, Box::new(refund_note))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.finish_refund(b.id, RefundStatus::Closed, 500, Box::new(refund_note)).await.unwrap_or_else(|e| panic!("{e}"));
        let o =
            s.order_by_out_trade_no("1900000001", "R000001").await.ok().flatten().unwrap_or_else(|| panic!("order"));
        // 1000 − 6 fee − (300 − 2) refunded = 696 pending.
        assert_eq!((o.refunded_fen, o.pending_fen), (300, 696));
        assert_eq!(s.balance(&AccountRef::new(AccountKind::MerchantPending, "1900000001")).await.ok(), Some(696));

        // Paid at t=200 (1970-01-01, China time), general rule T+1: not due on the 1st, due on the 2nd.
        assert!(s.settle("1970-01-01", 600, || "S1".into()).await.unwrap_or_default().is_empty());
        let settled = s.settle("1970-01-02", 600, || "S2".into()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settled.iter().map(|x| x.amount_fen).collect::<Vec<_>>(), vec![696]);
        assert!(s.settle("1970-01-02", 600, || "S3".into()).await.unwrap_or_default().is_empty());
        // No bank account yet: nothing is paid out.
        assert!(s.pay_out("1970-01-02", 600, || "P1".into()).await.unwrap_or_default().is_empty());
        s.set_bank_account("1900000001", "6222001").await.unwrap_or_else(|e| panic!("{e}"));
        let paid = s.pay_out("1970-01-02", 600, || "P2".into()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paid.iter().map(|p| p.amount_fen).collect::<Vec<_>>(), vec![696]);
        assert!(s.pay_out("1970-01-02", 600, || "P3".into()).await.unwrap_or_default().is_empty());
        assert_eq!(s.balance(&AccountRef::new(AccountKind::PaidOut, "1900000001")).await.ok(), Some(696));

        // A settled, paid-out order cannot be refunded from nothing.
        assert!(matches!(s.create_refund(&refund_request("C", 100, 3)).await, Err(RefundError::NotEnough)));

        // Deposits: paid in, released to available, paid out the next day.
        assert_eq!(
            s.standing("1900000001", 600).await.ok().flatten().map(|x| x.deposit_missing_fen()),
            Some(5_000_000)
        );
        s.pay_deposit("1900000001", 5_000_000, "DEP1", 600).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.standing("1900000001", 600).await.ok().flatten().map(|x| x.deposit_missing_fen()), Some(0));
        assert_eq!(s.release_deposit("1900000001", "DEP2", 700).await.ok(), Some(5_000_000));
        let paid = s.pay_out("1970-01-03", 700, || "P4".into()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paid.iter().map(|p| p.amount_fen).collect::<Vec<_>>(), vec![5_000_000]);

        // Where the money is: every account kind sums to zero.
        let totals = s.totals_by_kind().await.unwrap_or_default();
        assert_eq!(totals.iter().map(|(_, v)| v).sum::<i64>(), 0);
        assert_eq!(s.ledger_problems().await.unwrap_or_else(|e| panic!("{e}")), Vec::<String>::new());

        // The ledger's day totals, which bills must match.
        let t = s.day_totals("1900000001", -8 * 3600, 16 * 3600).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.payments, t.payment_count, t.refunds, t.refund_count, t.net_fees), (1000, 1, 500, 2, 6 - 2 - 1));
    }
}
