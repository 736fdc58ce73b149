//! Partner mode in process: a provider's payments, refunds, bills and
//! profit sharing for its sub-merchant; privileges granted and revoked;
//! and the isolation matrix: every principal against every other's orders,
//! refunds, bills and sharing orders, each attempt refused, nothing leaked,
//! every refusal in the log.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use koudai_app::parties;
use koudai_domain::provider::ProviderKind;
use koudai_store::{KeyMode, LogFilter};
use koudai_testkit::{Error, TestApp, TestMerchant, TestProvider, TestResponse};

type R = Result<(), Error>;

const ALL: &[&str] = &["payment_interface", "profit_sharing"];

fn sandbox(t: &TestApp, method: &str, path: &str, body: Value) -> Result<Request<Body>, Error> {
    Ok(Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", t.app.sandbox_token.expose()))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?)
}

async fn consumer(t: &TestApp, login: &str) -> R {
    let app = &t.app;
    parties::create_consumer(&app.store, &app.rng, login, "secret-pass", 1_000_000, app.clock.business_now()).await?;
    Ok(())
}

/// A paid order: `(out_trade_no, transaction_id)`.
struct Paid {
    out_trade_no: String,
    transaction_id: String,
}

async fn pay(t: &TestApp, code_url: &str) -> Result<String, Error> {
    let body = json!({"code_url": code_url, "consumer": "payer"});
    let r = t.send(sandbox(t, "POST", "/sandbox/v1/pay", body)?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Ok(r.json()["transaction_id"].as_str().unwrap_or_default().to_owned())
}

async fn partner_order(t: &TestApp, p: &TestProvider, no: &str, sharing: bool) -> Result<Paid, Error> {
    let body = json!({
        "sp_appid": p.signer.appid, "sp_mchid": p.sp_mchid(), "sub_mchid": p.sub_mchid,
        "description": "Partner tea", "out_trade_no": no, "notify_url": "http://127.0.0.1:9/n",
        "amount": {"total": 10_000}, "settle_info": {"profit_sharing": sharing}
    });
    let r = t.send(t.signed(&p.signer, "POST", "/v3/pay/partner/transactions/native", &body.to_string())?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tid = pay(t, r.json()["code_url"].as_str().unwrap_or_default()).await?;
    Ok(Paid { out_trade_no: no.into(), transaction_id: tid })
}

async fn direct_order(t: &TestApp, m: &TestMerchant, no: &str, sharing: bool) -> Result<Paid, Error> {
    let body = json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "Tea", "out_trade_no": no,
        "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 10_000},
        "settle_info": {"profit_sharing": sharing}
    });
    let r = t.send(t.signed(m, "POST", "/v3/pay/transactions/native", &body.to_string())?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tid = pay(t, r.json()["code_url"].as_str().unwrap_or_default()).await?;
    Ok(Paid { out_trade_no: no.into(), transaction_id: tid })
}

async fn call(t: &TestApp, m: &TestMerchant, method: &str, path: &str, body: Value) -> Result<TestResponse, Error> {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    t.send(t.signed(m, method, path, &body)?).await
}

async fn refusals(t: &TestApp) -> Result<usize, Error> {
    Ok(t.app.store.refusals(&LogFilter { limit: 1_000_000, ..Default::default() }).await?.len())
}

koudai_testkit::on_both_engines!(
    a_provider_takes_payments_refunds_and_bills_for_its_sub_merchant,
    profit_sharing_freezes_shares_and_unfreezes_on_the_business_clock
);

/// A provider takes, queries, closes, refunds and bills for its sub-merchant.
async fn a_provider_takes_payments_refunds_and_bills_for_its_sub_merchant(t: TestApp) -> R {
    consumer(&t, "payer").await?;
    let p = t.provider(ProviderKind::Official, KeyMode::Certificate, ALL).await?;
    let paid = partner_order(&t, &p, "PT00001", false).await?;

    // Both queries answer the partner shape.
    let sp = p.sp_mchid();
    let q = format!("sp_mchid={sp}&sub_mchid={}", p.sub_mchid);
    for path in [
        format!("/v3/pay/partner/transactions/out-trade-no/PT00001?{q}"),
        format!("/v3/pay/partner/transactions/id/{}?{q}", paid.transaction_id),
    ] {
        let r = call(&t, &p.signer, "GET", &path, Value::Null).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!((v["sp_mchid"].as_str(), v["sub_mchid"].as_str()), (Some(sp), Some(p.sub_mchid.as_str())));
        assert_eq!(v["sp_appid"], json!(p.signer.appid));
        assert_eq!(v["trade_state"], "SUCCESS");
        assert!(v["payer"]["sp_openid"].as_str().is_some_and(|o| !o.is_empty()), "{v}");
        assert!(v.get("mchid").is_none() && v.get("appid").is_none(), "{v}");
    }
    // The callback went to the provider.
    let n = t.app.store.notifications_for(Some(sp), "PT00001").await?;
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].0.event_type, "TRANSACTION.SUCCESS");

    // The money is the sub-merchant's: pending funds less its fee.
    let b = t.app.store.balances(&p.sub_mchid).await?;
    assert_eq!(b.pending_fen, 10_000 - 60);
    assert_eq!(t.app.store.balances(sp).await?.pending_fen, 0);

    // Close an unpaid one.
    let body = json!({
        "sp_appid": p.signer.appid, "sp_mchid": sp, "sub_mchid": p.sub_mchid, "description": "x",
        "out_trade_no": "PT00002", "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
    });
    let r = call(&t, &p.signer, "POST", "/v3/pay/partner/transactions/jsapi", body).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "JSAPI needs a payer: {}", r.text());
    assert_eq!(r.json()["detail"]["field"], "payer.sp_openid");
    let body = json!({
        "sp_appid": p.signer.appid, "sp_mchid": sp, "sub_mchid": p.sub_mchid, "description": "x",
        "out_trade_no": "PT00002", "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
    });
    assert_eq!(call(&t, &p.signer, "POST", "/v3/pay/partner/transactions/native", body).await?.status, 200);
    let close = json!({"sp_mchid": sp, "sub_mchid": p.sub_mchid});
    let path = "/v3/pay/partner/transactions/out-trade-no/PT00002/close";
    assert_eq!(call(&t, &p.signer, "POST", path, close).await?.status, StatusCode::NO_CONTENT);

    // Refund with sub_mchid; the callback goes to the provider too.
    let body = json!({"sub_mchid": p.sub_mchid, "out_trade_no": "PT00001", "out_refund_no": "RF1",
                      "amount": {"refund": 2_000, "total": 10_000, "currency": "CNY"}});
    let r = call(&t, &p.signer, "POST", "/v3/refund/domestic/refunds", body).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let path = format!("/v3/refund/domestic/refunds/RF1?sub_mchid={}", p.sub_mchid);
    assert_eq!(call(&t, &p.signer, "GET", &path, Value::Null).await?.json()["status"], "PROCESSING");
    let r = t.send(sandbox(&t, "POST", "/sandbox/v1/clock/advance", json!({"seconds": 86_400}))?).await?;
    assert_eq!(r.status, StatusCode::OK);
    let n = t.app.store.notifications_for(Some(sp), "RF1").await?;
    assert_eq!(n.len(), 1, "the refund's callback goes to the provider");

    // The trade bill filtered by sub_mchid names both numbers.
    let day = "2026-11-24";
    let path = format!("/v3/bill/tradebill?bill_date={day}&sub_mchid={}", p.sub_mchid);
    let r = call(&t, &p.signer, "GET", &path, Value::Null).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["download_url"].as_str().unwrap_or_default().replace("http://koudai.test", "");
    let file = call(&t, &p.signer, "GET", &url, Value::Null).await?.text();
    assert!(file.contains(&format!("`{sp},`{}", p.sub_mchid)), "{file}");
    assert_eq!(file.matches("`PT00001").count(), 2, "payment and refund lines: {file}");

    assert_eq!(
        koudai_app::payments::settlement::verify(&t.app.store, t.app.clock.business_now()).await?,
        Vec::<String>::new()
    );
    Ok(())
}

#[tokio::test]
async fn payment_interface_is_refused_until_granted_and_again_once_revoked() -> R {
    let t = TestApp::sandbox().await?;
    consumer(&t, "payer").await?;
    let p = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, &[]).await?;
    let body = |no: &str| {
        json!({
            "sp_appid": p.signer.appid, "sp_mchid": p.sp_mchid(), "sub_mchid": p.sub_mchid,
            "description": "x", "out_trade_no": no, "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
        })
    };
    let prepay = |no: &'static str| call(&t, &p.signer, "POST", "/v3/pay/partner/transactions/native", body(no));
    let before = refusals(&t).await?;
    let r = prepay("GRANT01").await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "NO_AUTH");
    assert!(r.json()["message"].as_str().unwrap_or("").contains("payment_interface"), "{}", r.text());
    assert_eq!(refusals(&t).await?, before + 1);

    let grant = |action: &str| {
        sandbox(
            &t,
            "POST",
            "/sandbox/v1/privileges",
            json!({"sp_mchid": p.sp_mchid(), "privilege": "payment_interface", "action": action, "reason": "pilot"}),
        )
    };
    let r = t.send(grant("grant")?).await?;
    assert_eq!(r.json(), json!({"sp_mchid": p.sp_mchid(), "privilege": "payment_interface", "held": true}));
    assert_eq!(prepay("GRANT02").await?.status, StatusCode::OK);
    // Profit sharing is a privilege of its own.
    let mut sharing = body("GRANT03");
    sharing["settle_info"] = json!({"profit_sharing": true});
    let r = call(&t, &p.signer, "POST", "/v3/pay/partner/transactions/native", sharing).await?;
    assert!(r.json()["message"].as_str().unwrap_or("").contains("profit_sharing"), "{}", r.text());

    let r = t.send(grant("revoke")?).await?;
    assert_eq!(r.json()["held"], false);
    assert_eq!(prepay("GRANT04").await?.status, StatusCode::FORBIDDEN);

    // The log has both records, by the sandbox operator, with the reason.
    let log = t
        .app
        .store
        .privilege_log(&LogFilter { who: Some(p.sp_mchid().into()), limit: 10, ..Default::default() })
        .await?;
    let actions: Vec<_> = log.iter().map(|r| (r.action.as_str(), r.actor.as_str(), r.reason.as_str())).collect();
    assert_eq!(actions, [("revoke", "sandbox", "pilot"), ("grant", "sandbox", "pilot")]);

    // A merchant's own sandbox token cannot grant.
    let token = t.app.store.merchant_sandbox_token(p.sp_mchid(), "mtok-123456").await?;
    let req = Request::builder()
        .method("POST")
        .uri("/sandbox/v1/privileges")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(
            json!({"sp_mchid": p.sp_mchid(), "privilege": "payment_interface", "action": "grant", "reason": "me"})
                .to_string(),
        ))?;
    assert_eq!(t.send(req).await?.status, StatusCode::FORBIDDEN);

    // A sub-merchant cannot take payments directly.
    let direct = json!({"appid": p.sub.appid, "mchid": p.sub_mchid, "description": "x", "out_trade_no": "GRANT05",
                        "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}});
    let r = call(&t, &p.sub, "POST", "/v3/pay/transactions/native", direct).await?;
    assert_eq!(r.json()["code"], "NO_AUTH", "{}", r.text());
    Ok(())
}

/// Profit sharing freezes, shares and unfreezes on the business clock.
async fn profit_sharing_freezes_shares_and_unfreezes_on_the_business_clock(t: TestApp) -> R {
    consumer(&t, "payer").await?;
    let p = t.provider(ProviderKind::Official, KeyMode::PublicKey, ALL).await?;
    let sp = p.sp_mchid().to_owned();
    // The provider hears of the commission it receives.
    t.app.store.set_service_notify_url(&sp, Some("http://127.0.0.1:9/shares")).await?;
    let paid = partner_order(&t, &p, "SHARE0001", true).await?;
    let sub = &p.sub_mchid;

    let name = t.app.platform.public_key.oaep_encrypt("Test Provider".as_bytes())?;
    let name = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(name)
    };
    let add = json!({"sub_mchid": sub, "appid": p.signer.appid, "type": "MERCHANT_ID", "account": sp,
                     "name": name, "relation_type": "SERVICE_PROVIDER"});
    let no_serial = call(&t, &p.signer, "POST", "/v3/profitsharing/receivers/add", add.clone()).await?;
    assert_eq!(no_serial.status, StatusCode::BAD_REQUEST, "the encrypted name needs Wechatpay-Serial");
    let mut req = t.signed(&p.signer, "POST", "/v3/profitsharing/receivers/add", &add.to_string())?;
    req.headers_mut().insert("wechatpay-serial", t.app.platform.public_key_id.parse()?);
    let r = t.send(req).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["account"], json!(sp));

    let amounts = format!("/v3/profitsharing/transactions/{}/amounts", paid.transaction_id);
    let unsplit = call(&t, &p.signer, "GET", &amounts, Value::Null).await?.json()["unsplit_amount"].clone();
    assert_eq!(unsplit, json!(10_000 - 60));

    let order = |no: &str, amount: i64| {
        json!({"sub_mchid": sub, "appid": p.signer.appid, "transaction_id": paid.transaction_id,
               "out_order_no": no, "unfreeze_unsplit": false,
               "receivers": [{"type": "MERCHANT_ID", "account": sp, "amount": amount, "description": "commission"}]})
    };
    // Over the 30% max ratio.
    let r = call(&t, &p.signer, "POST", "/v3/profitsharing/orders", order("PS0", 3_001)).await?;
    assert_eq!(r.json()["code"], "INVALID_REQUEST", "{}", r.text());
    let r = call(&t, &p.signer, "POST", "/v3/profitsharing/orders", order("PS1", 500)).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["state"], "PROCESSING");
    assert_eq!(r.json()["receivers"][0]["result"], "PENDING");
    // The same request again is the same order; other parameters are refused.
    let again = call(&t, &p.signer, "POST", "/v3/profitsharing/orders", order("PS1", 500)).await?;
    assert_eq!(again.json()["order_id"], r.json()["order_id"]);
    assert_eq!(call(&t, &p.signer, "POST", "/v3/profitsharing/orders", order("PS1", 501)).await?.status, 400);

    t.send(sandbox(&t, "POST", "/sandbox/v1/clock/advance", json!({"seconds": 61}))?).await?;
    let path = format!("/v3/profitsharing/orders/PS1?transaction_id={}&sub_mchid={sub}", paid.transaction_id);
    let r = call(&t, &p.signer, "GET", &path, Value::Null).await?;
    assert_eq!(r.json()["state"], "FINISHED", "{}", r.text());
    assert_eq!(r.json()["receivers"][0]["result"], "SUCCESS");
    assert_eq!(t.app.store.balances(&sp).await?.available_fen, 500, "the commission reached the provider");
    let detail_id = r.json()["receivers"][0]["detail_id"].as_str().unwrap_or_default().to_owned();
    let told = t.app.store.notifications_for(Some(&sp), &detail_id).await?;
    assert_eq!(told.len(), 1, "one notification to the MERCHANT_ID receiver");
    assert_eq!(
        (told[0].0.event_type.as_str(), told[0].0.notify_url.as_str()),
        ("TRANSACTION.SUCCESS", "http://127.0.0.1:9/shares")
    );

    // Unfreeze the rest; it settles at the next business day.
    let unfreeze = json!({"sub_mchid": sub, "transaction_id": paid.transaction_id, "out_order_no": "UF1",
                          "description": "done"});
    let r = call(&t, &p.signer, "POST", "/v3/profitsharing/orders/unfreeze", unfreeze).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["receivers"][0]["amount"], json!(10_000 - 60 - 500));
    let unsplit = call(&t, &p.signer, "GET", &amounts, Value::Null).await?.json()["unsplit_amount"].clone();
    assert_eq!(unsplit, json!(0));
    let r = call(&t, &p.signer, "POST", "/v3/profitsharing/orders", order("PS2", 1)).await?;
    assert_eq!(r.json()["code"], "INVALID_REQUEST", "a share after the unfreeze: {}", r.text());

    // A return from the provider's commission back to the sub-merchant.
    let ret = json!({"sub_mchid": sub, "out_order_no": "PS1", "out_return_no": "RT1", "return_mchid": sp,
                     "amount": 200, "description": "partial return"});
    let r = call(&t, &p.signer, "POST", "/v3/profitsharing/return-orders", ret).await?;
    assert_eq!(r.json()["result"], "PROCESSING", "{}", r.text());
    t.send(sandbox(&t, "POST", "/sandbox/v1/clock/advance", json!({"seconds": 86_400}))?).await?;
    let path = format!("/v3/profitsharing/return-orders/RT1?out_order_no=PS1&sub_mchid={sub}");
    assert_eq!(call(&t, &p.signer, "GET", &path, Value::Null).await?.json()["result"], "SUCCESS");

    // Funds nobody shares or unfreezes unfreeze by themselves after 30 days.
    let idle = partner_order(&t, &p, "SHARE0002", true).await?;
    let amounts = format!("/v3/profitsharing/transactions/{}/amounts", idle.transaction_id);
    assert_eq!(call(&t, &p.signer, "GET", &amounts, Value::Null).await?.json()["unsplit_amount"], json!(10_000 - 60));
    t.send(sandbox(&t, "POST", "/sandbox/v1/clock/advance", json!({"seconds": 29 * 86_400}))?).await?;
    let o = t.app.store.order_by_transaction_id_anywhere(&idle.transaction_id).await?.ok_or("order")?;
    assert!(o.is_frozen() && o.settled_on.is_none(), "still frozen on day 29: {o:?}");
    t.send(sandbox(&t, "POST", "/sandbox/v1/clock/advance", json!({"seconds": 2 * 86_400}))?).await?;
    assert_eq!(call(&t, &p.signer, "GET", &amounts, Value::Null).await?.json()["unsplit_amount"], json!(0));
    let o = t.app.store.order_by_transaction_id_anywhere(&idle.transaction_id).await?.ok_or("order")?;
    assert!(!o.is_frozen() && o.settled_on.is_some(), "unfrozen and settled after day 30: {o:?}");

    let cfg = format!("/v3/profitsharing/merchant-configs/{sub}");
    assert_eq!(call(&t, &p.signer, "GET", &cfg, Value::Null).await?.json()["max_ratio"], 3000);
    assert_eq!(
        koudai_app::payments::settlement::verify(&t.app.store, t.app.clock.business_now()).await?,
        Vec::<String>::new()
    );
    Ok(())
}

/// Everything one principal owns that others will try to reach.
struct Victim {
    /// Who signs for it, and whose number the money is under.
    owner: String,
    paid: Paid,
    out_refund_no: String,
    out_order_no: String,
}

#[tokio::test]
async fn isolation_matrix_every_principal_is_refused_everything_of_every_other() -> R {
    let t = TestApp::sandbox().await?;
    consumer(&t, "payer").await?;
    let a = t.provider(ProviderKind::Official, KeyMode::Certificate, ALL).await?;
    let b = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, ALL).await?;
    let m1 = t.merchant(KeyMode::PublicKey).await?;
    let m2 = t.merchant(KeyMode::Certificate).await?;

    // Each victim: a paid order, a refund and a sharing order.
    let mut victims = Vec::new();
    for (i, p) in [&a, &b].into_iter().enumerate() {
        let paid = partner_order(&t, p, &format!("VPART0{i}"), true).await?;
        let refund = json!({"sub_mchid": p.sub_mchid, "transaction_id": paid.transaction_id,
                            "out_refund_no": format!("VR{i}"), "amount": {"refund": 100, "total": 10_000}});
        assert_eq!(call(&t, &p.signer, "POST", "/v3/refund/domestic/refunds", refund).await?.status, 200);
        let recv = json!({"sub_mchid": p.sub_mchid, "appid": p.signer.appid, "type": "PERSONAL_OPENID",
                          "account": t.app.store.ensure_openid("payer", &p.signer.appid, "unused").await?,
                          "relation_type": "USER"});
        assert_eq!(call(&t, &p.signer, "POST", "/v3/profitsharing/receivers/add", recv.clone()).await?.status, 200);
        let share = json!({"sub_mchid": p.sub_mchid, "appid": p.signer.appid, "transaction_id": paid.transaction_id,
                           "out_order_no": format!("VS{i}"), "unfreeze_unsplit": false,
                           "receivers": [{"type": "PERSONAL_OPENID", "account": recv["account"], "amount": 10,
                                          "description": "cashback"}]});
        assert_eq!(call(&t, &p.signer, "POST", "/v3/profitsharing/orders", share).await?.status, 200);
        victims.push(Victim {
            owner: p.sub_mchid.clone(),
            paid,
            out_refund_no: format!("VR{i}"),
            out_order_no: format!("VS{i}"),
        });
    }
    for (i, m) in [&m1, &m2].into_iter().enumerate() {
        let paid = direct_order(&t, m, &format!("VDIRECT{i}"), true).await?;
        let refund = json!({"transaction_id": paid.transaction_id, "out_refund_no": format!("VDR{i}"),
                            "amount": {"refund": 100, "total": 10_000}});
        assert_eq!(call(&t, m, "POST", "/v3/refund/domestic/refunds", refund).await?.status, 200);
        let openid = t.app.store.ensure_openid("payer", &m.appid, "unused2").await?;
        let recv = json!({"appid": m.appid, "type": "PERSONAL_OPENID", "account": openid, "relation_type": "USER"});
        assert_eq!(call(&t, m, "POST", "/v3/profitsharing/receivers/add", recv).await?.status, 200);
        let share = json!({"appid": m.appid, "transaction_id": paid.transaction_id, "out_order_no": format!("VDS{i}"),
                           "unfreeze_unsplit": false,
                           "receivers": [{"type": "PERSONAL_OPENID", "account": openid, "amount": 10,
                                          "description": "cashback"}]});
        assert_eq!(call(&t, m, "POST", "/v3/profitsharing/orders", share).await?.status, 200);
        victims.push(Victim {
            owner: m.created.mchid.clone(),
            paid,
            out_refund_no: format!("VDR{i}"),
            out_order_no: format!("VDS{i}"),
        });
    }
    // A day later, so bills exist.
    t.send(sandbox(&t, "POST", "/sandbox/v1/clock/advance", json!({"seconds": 86_400}))?).await?;

    // The actors: both providers, their sub-merchants (they have keys like
    // every merchant), both direct merchants.
    let actors: Vec<(&str, &TestMerchant, Option<&str>)> = vec![
        ("provider A", &a.signer, Some(a.sub_mchid.as_str())),
        ("provider B", &b.signer, Some(b.sub_mchid.as_str())),
        ("sub-merchant A1", &a.sub, None),
        ("sub-merchant B1", &b.sub, None),
        ("merchant 1", &m1, None),
        ("merchant 2", &m2, None),
    ];
    let mut checked = 0;
    for (name, actor, own_sub) in &actors {
        let me = actor.created.mchid.as_str();
        for v in &victims {
            if Some(v.owner.as_str()) == *own_sub || v.owner == me {
                continue;
            }
            let tid = &v.paid.transaction_id;
            let no = &v.paid.out_trade_no;
            let o = &v.owner;
            let attempts: Vec<(&str, String, Value)> = vec![
                ("GET", format!("/v3/pay/transactions/id/{tid}?mchid={me}"), Value::Null),
                ("GET", format!("/v3/pay/transactions/out-trade-no/{no}?mchid={o}"), Value::Null),
                ("GET", format!("/v3/pay/partner/transactions/id/{tid}?sp_mchid={me}&sub_mchid={o}"), Value::Null),
                (
                    "GET",
                    format!("/v3/pay/partner/transactions/out-trade-no/{no}?sp_mchid={me}&sub_mchid={o}"),
                    Value::Null,
                ),
                (
                    "POST",
                    format!("/v3/pay/partner/transactions/out-trade-no/{no}/close"),
                    json!({"sp_mchid": me, "sub_mchid": o}),
                ),
                (
                    "POST",
                    "/v3/refund/domestic/refunds".into(),
                    json!({"transaction_id": tid, "out_refund_no": "X1", "amount": {"refund": 1, "total": 10_000}}),
                ),
                (
                    "POST",
                    "/v3/refund/domestic/refunds".into(),
                    json!({"sub_mchid": o, "transaction_id": tid, "out_refund_no": "X2",
                           "amount": {"refund": 1, "total": 10_000}}),
                ),
                ("GET", format!("/v3/refund/domestic/refunds/{}", v.out_refund_no), Value::Null),
                ("GET", format!("/v3/refund/domestic/refunds/{}?sub_mchid={o}", v.out_refund_no), Value::Null),
                ("GET", format!("/v3/bill/tradebill?bill_date=2026-11-24&sub_mchid={o}"), Value::Null),
                ("GET", format!("/v3/profitsharing/transactions/{tid}/amounts"), Value::Null),
                (
                    "POST",
                    "/v3/profitsharing/orders".into(),
                    json!({"appid": actor.appid, "transaction_id": tid, "out_order_no": "X3", "unfreeze_unsplit": true,
                           "receivers": [{"type": "MERCHANT_ID", "account": me, "amount": 1, "description": "x"}]}),
                ),
                (
                    "GET",
                    format!("/v3/profitsharing/orders/{}?transaction_id={tid}&sub_mchid={o}", v.out_order_no),
                    Value::Null,
                ),
                (
                    "POST",
                    "/v3/profitsharing/orders/unfreeze".into(),
                    json!({"sub_mchid": o, "transaction_id": tid, "out_order_no": "X4", "description": "x"}),
                ),
                (
                    "POST",
                    "/v3/profitsharing/orders/unfreeze".into(),
                    json!({"transaction_id": tid, "out_order_no": "X5", "description": "x"}),
                ),
            ];
            for (method, path, body) in attempts {
                let before = refusals(&t).await?;
                let r = call(&t, actor, method, &path, body).await?;
                let what = format!("{name} {method} {path}");
                assert!(
                    r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
                    "{what}: {} {}",
                    r.status,
                    r.text()
                );
                let text = r.text();
                for secret in [tid.as_str(), no.as_str(), v.out_refund_no.as_str(), "10000", "PENDING", "SUCCESS"] {
                    assert!(!text.contains(secret), "{what} leaked {secret}: {text}");
                }
                assert_eq!(refusals(&t).await?, before + 1, "{what} is in the refusal log");
                checked += 1;
            }
        }
    }
    assert!(checked >= 250, "{checked} attempts checked");
    // Nothing moved: the victims' orders stand.
    for v in &victims {
        let o = t.app.store.order_by_transaction_id_anywhere(&v.paid.transaction_id).await?.ok_or("order")?;
        assert_eq!(o.refund_count, 1, "{}", v.paid.out_trade_no);
    }
    assert_eq!(
        koudai_app::payments::settlement::verify(&t.app.store, t.app.clock.business_now()).await?,
        Vec::<String>::new()
    );
    Ok(())
}
