//! Hostile input on every surface, on both engines: characters no database
//! column may hold (U+0000) get the surface's own 4xx, before any SQL —
//! never a 5xx, and the same answer on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp};

koudai_testkit::on_both_engines!(
    nul_characters_get_the_surfaces_own_4xx_before_any_sql,
    every_endpoint_survives_hostile_values
);

async fn sweep(t: &TestApp) -> Result<Vec<(String, u16)>, Error> {
    let m = t.merchant(KeyMode::PublicKey).await?;
    let mchid = m.created.mchid.clone();
    let token = t.app.sandbox_token.expose().clone();
    let mut answers = Vec::new();
    let mut record = |label: &str, status: StatusCode| answers.push((label.to_owned(), status.as_u16()));

    let mut body: Value = json!({
        "appid": m.appid, "mchid": mchid, "description": "tea\u{0}", "out_trade_no": "HOSTILE01",
        "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
    });
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body.to_string())?).await?;
    assert_eq!(r.json()["detail"]["field"], "description", "{}", r.text());
    record("v3 body", r.status);
    body["description"] = json!("tea");
    body["out_trade_no"] = json!("HOST\u{0}ILE");
    record(
        "v3 out_trade_no",
        t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body.to_string())?).await?.status,
    );
    let path = format!("/v3/pay/transactions/out-trade-no/T%00X?mchid={mchid}");
    record("v3 path id", t.send(t.signed(&m, "GET", &path, "")?).await?.status);
    let path = "/v3/pay/transactions/out-trade-no/HOSTILE01?mchid=%00";
    record("v3 query", t.send(t.signed(&m, "GET", path, "")?).await?.status);
    record("v3 refund path", t.send(t.signed(&m, "GET", "/v3/refund/domestic/refunds/R%00", "")?).await?.status);
    let refund =
        json!({"out_trade_no": "HOSTILE01", "out_refund_no": "R\u{0}1", "amount": {"refund": 1, "total": 100}});
    record(
        "v3 refund body",
        t.send(t.signed(&m, "POST", "/v3/refund/domestic/refunds", &refund.to_string())?).await?.status,
    );
    let bill = "/v3/bill/tradebill?bill_date=2026-11-01%00";
    record("v3 bill query", t.send(t.signed(&m, "GET", bill, "")?).await?.status);

    let sandbox = |method: &str, uri: &str, body: Value| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
    };
    record(
        "sandbox pay",
        t.send(sandbox("POST", "/sandbox/v1/pay", json!({"prepay_id": "wx\u{0}", "consumer": "a"}))?).await?.status,
    );
    record(
        "sandbox query",
        t.send(sandbox("GET", "/sandbox/v1/notifications?out_trade_no=%00", Value::Null)?).await?.status,
    );
    let outcome = json!({"mchid": mchid, "status": "SUCCESS"});
    record("sandbox path", t.send(sandbox("POST", "/sandbox/v1/refunds/R%00/outcome", outcome)?).await?.status);

    record("cashier native", t.send(TestApp::plain("GET", "/pay/native?pr=%00", "")?).await?.status);
    record("cashier h5", t.send(TestApp::plain("GET", "/pay/h5?prepay_id=wx%00", "")?).await?.status);
    let form = Request::builder()
        .method("POST")
        .uri("/pay/confirm")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("kind=native&pr=%00&login=a&password=b"))?;
    record("cashier form", t.send(form).await?.status);
    Ok(answers)
}

fn expected() -> Vec<(String, u16)> {
    [
        ("v3 body", 400),
        ("v3 out_trade_no", 400),
        ("v3 path id", 404),
        ("v3 query", 400),
        ("v3 refund path", 404),
        ("v3 refund body", 400),
        ("v3 bill query", 400),
        ("sandbox pay", 400),
        ("sandbox query", 400),
        ("sandbox path", 404),
        ("cashier native", 404),
        ("cashier h5", 404),
        ("cashier form", 400),
    ]
    .into_iter()
    .map(|(l, s)| (l.to_owned(), s))
    .collect()
}

async fn nul_characters_get_the_surfaces_own_4xx_before_any_sql(t: TestApp) -> Result<(), Error> {
    assert_eq!(sweep(&t).await?, expected());
    Ok(())
}

/// Hostile values for every endpoint: no answer may be a 5xx.
async fn every_endpoint(t: &TestApp) -> Result<(), Error> {
    let m = t.merchant(KeyMode::PublicKey).await?;
    let token = t.app.sandbox_token.expose().clone();
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let long = "x".repeat(200_000);
    let bodies: Vec<String> = vec![
        String::new(),
        "null".into(),
        "[]".into(),
        "\"x\"".into(),
        "{}".into(),
        "{\"amount\":{\"total\":99999999999999999999}}".into(),
        "{\"amount\":{\"total\":-1,\"refund\":-5,\"from\":[{\"account\":\"AVAILABLE\",\"amount\":-1}]}}".into(),
        format!("{{\"description\":\"{long}\",\"out_trade_no\":\"{long}\"}}"),
        deep.clone(),
        "{\"mchid\":\"\u{202e}1900\",\"out_trade_no\":\"\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\"}"
            .into(),
        "\u{FEFF}{}".into(),
        "{\"a\":1,".into(),
        "{\"sub_mchid\":\"\u{0}\",\"sp_mchid\":[],\"receivers\":[{\"type\":\"MERCHANT_ID\",\"amount\":-1,\"name\":\"%%%\"}]}"
            .into(),
        "{\"type\":\"MERCHANT_ID\",\"account\":\"1\",\"name\":\"bm90IGEgY2lwaGVydGV4dA==\",\"relation_type\":\"USER\",\"appid\":\"x\"}"
            .into(),
        "{\"transaction_id\":\"4200\",\"out_order_no\":\"\u{1F600}\",\"unfreeze_unsplit\":\"yes\",\"receivers\":[]}".into(),
    ];
    let posts = [
        "/v3/pay/transactions/jsapi",
        "/v3/pay/transactions/native",
        "/v3/pay/transactions/h5",
        "/v3/pay/transactions/app",
        "/v3/pay/transactions/out-trade-no/X/close",
        "/v3/refund/domestic/refunds",
        "/v3/pay/partner/transactions/jsapi",
        "/v3/pay/partner/transactions/native",
        "/v3/pay/partner/transactions/h5",
        "/v3/pay/partner/transactions/app",
        "/v3/pay/partner/transactions/out-trade-no/X/close",
        "/v3/profitsharing/receivers/add",
        "/v3/profitsharing/receivers/delete",
        "/v3/profitsharing/orders",
        "/v3/profitsharing/orders/unfreeze",
        "/v3/profitsharing/return-orders",
        "/v3/applyment4sub/applyment/",
        "/v3/merchant/media/upload",
        "/v3/merchant/media/video_upload",
    ];
    // A direct merchant, and a provider holding every privilege (so that
    // partner requests reach past the authorisation check).
    let p = t
        .provider(
            koudai_domain::provider::ProviderKind::Official,
            KeyMode::Certificate,
            &["payment_interface", "profit_sharing"],
        )
        .await?;
    for signer in [&m, &p.signer] {
        for path in posts {
            for body in &bodies {
                let r = t.send(t.signed(signer, "POST", path, body)?).await?;
                assert!(r.status.as_u16() < 500, "{path} with {:.60}: {} {}", body, r.status, r.text());
            }
            // The partner body with the provider's real numbers and a
            // hostile rest.
            let real = format!(
                "{{\"sp_mchid\":\"{}\",\"sub_mchid\":\"{}\",\"sp_appid\":\"{}\",\"appid\":\"{}\",\"transaction_id\":\"%00\",\
                 \"out_order_no\":\"A\",\"unfreeze_unsplit\":true,\"receivers\":[{{\"type\":\"PERSONAL_OPENID\",\"account\":\"o\",\
                 \"amount\":9223372036854775807,\"description\":\"x\"}}],\"amount\":{{\"total\":1}},\"description\":\"x\",\
                 \"out_trade_no\":\"HOSTILE9\",\"notify_url\":\"http://127.0.0.1:9/n\",\"payer\":{{\"sub_openid\":\"o\"}}}}",
                p.sp_mchid(),
                p.sub_mchid,
                p.signer.appid,
                p.signer.appid
            );
            let r = t.send(t.signed(signer, "POST", path, &real)?).await?;
            assert!(r.status.as_u16() < 500, "{path} with the provider's numbers: {} {}", r.status, r.text());
        }
    }
    let mchid = &m.created.mchid;
    let long_id = "9".repeat(5000);
    let gets = [
        format!("/v3/pay/transactions/id/{long_id}?mchid={mchid}"),
        format!("/v3/pay/transactions/out-trade-no/%F0%9F%98%80?mchid={mchid}"),
        format!("/v3/pay/transactions/out-trade-no/%FF%FE?mchid={mchid}"),
        "/v3/pay/transactions/out-trade-no/X?mchid=1&mchid=2".to_owned(),
        format!("/v3/refund/domestic/refunds/{long_id}"),
        "/v3/bill/tradebill?bill_date=9999-99-99&bill_type=%FF".to_owned(),
        "/v3/bill/fundflowbill?bill_date=2026-02-30&account_type=FEES&tar_type=ZIP".to_owned(),
        "/v3/billdownload/file?token=%00%01".to_owned(),
        "/v3/certificates?x=%FF".to_owned(),
        format!("/v3/pay/partner/transactions/id/{long_id}?sp_mchid={}&sub_mchid={}", p.sp_mchid(), p.sub_mchid),
        format!("/v3/pay/partner/transactions/out-trade-no/%FF?sp_mchid={}&sub_mchid=%00", p.sp_mchid()),
        "/v3/pay/partner/transactions/out-trade-no/X?sp_mchid=1&sub_mchid=2&sub_mchid=3".to_owned(),
        format!("/v3/refund/domestic/refunds/X?sub_mchid={}", p.sub_mchid),
        format!("/v3/bill/tradebill?bill_date=2026-11-01&sub_mchid={long_id}"),
        format!("/v3/profitsharing/orders/{long_id}?transaction_id=%FF&sub_mchid={}", p.sub_mchid),
        "/v3/profitsharing/orders/X".to_owned(),
        format!("/v3/profitsharing/transactions/{long_id}/amounts"),
        format!("/v3/profitsharing/merchant-configs/{}", p.sub_mchid),
        "/v3/profitsharing/merchant-configs/%00".to_owned(),
        "/v3/profitsharing/return-orders/X?out_order_no=%FF".to_owned(),
        format!("/v3/applyment4sub/applyment/business_code/{long_id}"),
        "/v3/applyment4sub/applyment/business_code/%FF%FE".to_owned(),
        "/v3/applyment4sub/applyment/applyment_id/99999999999999999999999".to_owned(),
        "/v3/applyment4sub/applyment/applyment_id/-1".to_owned(),
    ];
    for signer in [&m, &p.signer] {
        for path in &gets {
            let r = t.send(t.signed(signer, "GET", path, "")?).await?;
            assert!(r.status.as_u16() < 500, "{path}: {} {}", r.status, r.text());
        }
    }
    let sandbox = [
        ("POST", "/sandbox/v1/pay"),
        ("POST", "/sandbox/v1/clock/advance"),
        ("POST", "/sandbox/v1/refunds/X/outcome"),
        ("GET", "/sandbox/v1/notifications?out_trade_no=%FF%FE"),
        ("GET", "/sandbox/v1/clock"),
        ("POST", "/sandbox/v1/privileges"),
        ("POST", "/sandbox/v1/deposits"),
        ("POST", "/sandbox/v1/applyments/1/audit"),
        ("POST", "/sandbox/v1/applyments/99999999999999999999/sign"),
        ("GET", "/sandbox/v1/applyments/abc/sign-code"),
    ];
    for (method, path) in sandbox {
        for body in &bodies {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(body.clone()))?;
            let r = t.send(req).await?;
            assert!(r.status.as_u16() < 500, "{method} {path} with {:.60}: {} {}", body, r.status, r.text());
        }
    }
    let pages = [
        format!("/pay/native?pr={long_id}"),
        "/pay/h5?prepay_id=%FF%FE".to_owned(),
        "/pay/jsapi?package=prepay_id%3D&paySign=%FF&timeStamp=-1".to_owned(),
        "/pay/jsapi?appId=x&timeStamp=99999999999999999999&nonceStr=&package=prepay_id%3Dwx&signType=RSA&paySign="
            .to_owned(),
    ];
    for path in &pages {
        let r = t.send(TestApp::plain("GET", path, "")?).await?;
        assert!(r.status.as_u16() < 500, "{path}: {} {}", r.status, r.text());
    }
    for form in ["", "kind=", "kind=native&pr=", "kind=h5&prepay_id=%FF", "kind=jsapi&package=prepay_id%3D", "%%%"] {
        let req = Request::builder()
            .method("POST")
            .uri("/pay/confirm")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))?;
        let r = t.send(req).await?;
        assert!(r.status.as_u16() < 500, "confirm {form:?}: {} {}", r.status, r.text());
    }
    Ok(())
}

async fn every_endpoint_survives_hostile_values(t: TestApp) -> Result<(), Error> {
    every_endpoint(&t).await
}
