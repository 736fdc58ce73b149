//! The store story: the same behaviour checked on SQLite always and on
//! PostgreSQL when `TEST_DATABASE_URL` points at a server (CI sets it).

use std::sync::Arc;

use koudai_domain::ledger::{AccountKind, AccountRef};
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
        apiv3_key: "k".repeat(32),
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
