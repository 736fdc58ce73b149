//! The router in process (no socket), on a fixed clock and seeded
//! randomness: authentication, response signing, request ids, metrics, the
//! sandbox API's guard, and the cashier's session rules.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use koudai_app::parties;
use koudai_protocol::auth::response_message;
use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp, TestMerchant, TestResponse};

type R = Result<(), Error>;

fn native_body(m: &TestMerchant, out_trade_no: &str, total: i64) -> String {
    json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "Green tea",
        "out_trade_no": out_trade_no, "notify_url": "http://127.0.0.1:9/notify",
        "amount": {"total": total, "currency": "CNY"}
    })
    .to_string()
}

/// Checks the `Wechatpay-*` headers of a response against the platform key.
fn assert_signed(t: &TestApp, r: &TestResponse) {
    let ts = r.header("wechatpay-timestamp").unwrap_or_default();
    let nonce = r.header("wechatpay-nonce").unwrap_or_default();
    let sig = r.header("wechatpay-signature").unwrap_or_default();
    let message = response_message(ts, nonce, &r.body);
    assert!(t.app.platform.public_key.verify(&message, sig), "response signature verifies");
    assert_eq!(r.header("wechatpay-signature-type"), Some("WECHATPAY2-SHA256-RSA2048"));
}

async fn prepay(t: &TestApp, m: &TestMerchant, out_trade_no: &str) -> Result<TestResponse, Error> {
    let body = native_body(m, out_trade_no, 1200);
    t.send(t.signed(m, "POST", "/v3/pay/transactions/native", &body)?).await
}

#[tokio::test]
async fn a_signed_prepay_is_answered_and_signed_in_the_merchants_key_mode() -> R {
    let t = TestApp::sandbox().await?;
    for mode in [KeyMode::PublicKey, KeyMode::Certificate] {
        let m = t.merchant(mode).await?;
        let r = prepay(&t, &m, &format!("KEYMODE{}", mode.as_str().len())).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(r.json()["code_url"].as_str().unwrap_or("").starts_with("weixin://wxpay/bizpayurl?pr="));
        assert_signed(&t, &r);
        assert_eq!(r.header("wechatpay-serial"), Some(t.app.platform.serial_for(mode)));
    }
    Ok(())
}

#[tokio::test]
async fn authentication_failures_are_sign_errors_and_are_signed_too() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let body = native_body(&m, "AUTH0001", 100);

    let missing = t.send(TestApp::plain("POST", "/v3/pay/transactions/native", &body)?).await?;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.json()["code"], "SIGN_ERROR");
    assert_signed(&t, &missing);

    // Signed over another body.
    let mut req = t.signed(&m, "POST", "/v3/pay/transactions/native", "{}")?;
    *req.body_mut() = Body::from(body.clone());
    let tampered = t.send(req).await?;
    assert_eq!(tampered.json()["detail"]["detail"]["issue"], "sign not match");
    assert_eq!(tampered.json()["detail"]["sign_information"]["url"], "/v3/pay/transactions/native");
    assert_eq!(tampered.header("wechatpay-serial"), Some(t.app.platform.public_key_id.as_str()));

    // Replayed: the same nonce twice.
    let now = t.app.clock.wall_now().unix();
    let at = |ts: i64, nonce: &str| t.signed_at(&m, "POST", "/v3/pay/transactions/native", &body, ts, nonce);
    assert_eq!(t.send(at(now, "same-nonce")?).await?.status, StatusCode::OK);
    let replay = t.send(at(now, "same-nonce")?).await?;
    assert_eq!(replay.json()["detail"]["detail"]["issue"], "nonce replayed");

    // Out of the 5-minute window, either way.
    for skew in [-301, 301] {
        let r = t.send(at(now + skew, &format!("n{skew}"))?).await?;
        assert_eq!(r.json()["detail"]["detail"]["issue"], "timestamp outside the 5-minute window");
    }
    Ok(())
}

#[tokio::test]
async fn bad_bodies_name_the_field() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let send = |body: &str| t.signed(&m, "POST", "/v3/pay/transactions/native", body);
    let not_json = t.send(send("{oops")?).await?;
    assert_eq!((not_json.status, not_json.json()["code"].clone()), (StatusCode::BAD_REQUEST, json!("PARAM_ERROR")));
    let mut v: Value = serde_json::from_str(&native_body(&m, "FIELD001", 100))?;
    v["amount"]["total"] = json!("12");
    let wrong_type = t.send(send(&v.to_string())?).await?;
    assert_eq!(wrong_type.json()["detail"]["field"], "amount.total");
    v["amount"] = json!({"currency": "CNY"});
    let missing = t.send(send(&v.to_string())?).await?;
    assert_eq!(missing.json()["detail"], json!({"field": "amount.total", "location": "body"}));
    assert_eq!(missing.json()["message"], "参数“amount.total”是必填项");
    Ok(())
}

#[tokio::test]
async fn every_response_carries_a_request_id() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let responses = [
        t.send(TestApp::plain("GET", "/healthz", "")?).await?,
        t.send(TestApp::plain("GET", "/no/such/path", "")?).await?,
        t.send(TestApp::plain("GET", "/sandbox/v1/clock", "")?).await?,
        t.send(TestApp::plain("GET", "/pay/native", "")?).await?,
        t.send(TestApp::plain("GET", "/metrics", "")?).await?,
        prepay(&t, &m, "RIDS0001").await?,
    ];
    let mut ids = std::collections::HashSet::new();
    for r in &responses {
        let id = r.header("request-id").unwrap_or_default().to_owned();
        assert!(id.starts_with("KD") && id.len() == 32, "request id {id:?} on {:?}", r.status);
        assert!(ids.insert(id), "ids are unique");
    }
    Ok(())
}

#[tokio::test]
async fn the_sandbox_api_wants_its_token() -> R {
    let t = TestApp::sandbox().await?;
    let r = t.send(TestApp::plain("GET", "/sandbox/v1/clock", "")?).await?;
    assert_eq!((r.status, r.json()["code"].clone()), (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED")));
    let wrong =
        Request::builder().uri("/sandbox/v1/clock").header("authorization", "Bearer nope").body(Body::empty())?;
    assert_eq!(t.send(wrong).await?.status, StatusCode::UNAUTHORIZED);
    let right = Request::builder()
        .uri("/sandbox/v1/clock")
        .header("authorization", format!("Bearer {}", t.app.sandbox_token.expose()))
        .body(Body::empty())?;
    let r = t.send(right).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["business_unix"], json!(koudai_testkit::START_UNIX_S));
    Ok(())
}

#[tokio::test]
async fn metrics_move_after_a_payment() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let before = t.send(TestApp::plain("GET", "/metrics", "")?).await?.text();
    assert!(before.contains("koudai_outbox_pending 0"), "{before}");
    let code_url = prepay(&t, &m, "METR0001").await?.json()["code_url"].as_str().unwrap_or_default().to_owned();
    let app = &t.app;
    parties::create_consumer(&app.store, &app.rng, "carol", "carol-password", 10_000, app.clock.business_now()).await?;
    let pay = Request::builder()
        .method("POST")
        .uri("/sandbox/v1/pay")
        .header("authorization", format!("Bearer {}", app.sandbox_token.expose()))
        .body(Body::from(json!({"code_url": code_url, "consumer": "carol"}).to_string()))?;
    assert_eq!(t.send(pay).await?.status, StatusCode::OK);
    let after = t.send(TestApp::plain("GET", "/metrics", "")?).await?;
    assert!(after.header("content-type").unwrap_or_default().starts_with("application/openmetrics-text"));
    let text = after.text();
    assert!(text.contains("koudai_outbox_pending 1"), "the callback waits in the outbox:\n{text}");
    assert!(
        text.contains(
            r#"koudai_http_requests_total{method="POST",route="/v3/pay/transactions/native",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"koudai_http_requests_total{method="POST",route="/sandbox/v1/pay",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("koudai_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("koudai_callback_deliveries_total{channel=\"v3\",outcome=\"delivered\"} 0"), "{text}");
    Ok(())
}

#[tokio::test]
async fn hand_written_requests_over_a_socket_get_protocol_answers() -> R {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let t = TestApp::sandbox().await?;
    let addr = t.listen().await?;
    let exchange = |raw: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(raw.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<String, Error>(String::from_utf8_lossy(&out).into_owned())
    };
    let unsigned = exchange("GET /v3/certificates HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
    assert!(unsigned.contains("\"code\":\"SIGN_ERROR\""), "{unsigned}");
    assert!(unsigned.to_ascii_lowercase().contains("request-id: kd"), "{unsigned}");
    let wrong_method =
        exchange("DELETE /v3/pay/transactions/native HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    assert!(wrong_method.starts_with("HTTP/1.1 405"), "{wrong_method}");
    assert!(wrong_method.contains("METHOD_NOT_ALLOWED"), "{wrong_method}");
    let too_big = exchange(
        "POST /v3/pay/transactions/native HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
    )
    .await?;
    // Over the /v3 limit (1 MiB): the catalogue's PARAM_ERROR, signed.
    assert!(too_big.starts_with("HTTP/1.1 400"), "{too_big}");
    assert!(too_big.contains("\"code\":\"PARAM_ERROR\""), "{too_big}");
    assert!(too_big.to_ascii_lowercase().contains("wechatpay-signature:"), "{too_big}");
    // Over the ceiling of every surface (4 MiB): refused before any surface.
    let huge =
        exchange("POST /sandbox/v1/pay HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\nConnection: close\r\n\r\n")
            .await?;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert!(huge.contains("\"code\":\"PARAM_ERROR\""), "{huge}");
    Ok(())
}

#[tokio::test]
async fn an_empty_string_is_a_missing_field() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    for field in ["appid", "mchid", "description", "out_trade_no", "notify_url"] {
        let mut v: Value = serde_json::from_str(&native_body(&m, "EMPTY0001", 100))?;
        v[field] = json!("");
        let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &v.to_string())?).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text());
        assert_eq!(r.json()["detail"], json!({"field": field, "location": "body"}), "{field}");
        assert_eq!(r.json()["message"], format!("参数“{field}”是必填项"));
    }
    Ok(())
}

#[tokio::test]
async fn a_request_stamped_at_the_windows_edge_cannot_be_replayed_later() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let body = native_body(&m, "EDGE000001", 100);
    let now = t.app.clock.wall_now().unix();
    // Stamped 300 s ahead: admitted until now + 600.
    let at = || t.signed_at(&m, "POST", "/v3/pay/transactions/native", &body, now + 300, "edge-nonce");
    assert_eq!(t.send(at()?).await?.status, StatusCode::OK);
    t.app.clock.set_wall(now + 600);
    let replay = t.send(at()?).await?;
    assert_eq!(replay.json()["detail"]["detail"]["issue"], "nonce replayed", "{}", replay.text());
    Ok(())
}

#[tokio::test]
async fn duplicate_keys_unreachable_urls_and_overflowing_sums_are_refused() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let base = native_body(&m, "DUPKEY0001", 100);
    let top = base.replacen("{", r#"{"amount":{"total":1},"#, 1);
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &top)?).await?;
    assert_eq!(
        (r.status, r.json()["detail"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("amount")),
        "{}",
        r.text()
    );
    let nested = base.replace(r#""total":100"#, r#""total":100,"total":1"#);
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &nested)?).await?;
    assert_eq!(r.json()["detail"]["field"], "amount.total", "{}", r.text());

    let mut v: Value = serde_json::from_str(&base)?;
    v["notify_url"] = json!("http://a b/notify");
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &v.to_string())?).await?;
    assert_eq!(r.json()["detail"]["field"], "notify_url", "{}", r.text());

    let refund = json!({
        "out_trade_no": "DUPKEY0001", "out_refund_no": "OVERFLOW01",
        "amount": {"refund": 1, "total": 100, "currency": "CNY",
                   "from": [{"account": "AVAILABLE", "amount": i64::MAX}, {"account": "AVAILABLE", "amount": 2}]}
    });
    let r = t.send(t.signed(&m, "POST", "/v3/refund/domestic/refunds", &refund.to_string())?).await?;
    assert_eq!(
        (r.status, r.json()["detail"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("amount.from")),
        "{}",
        r.text()
    );
    Ok(())
}

#[tokio::test]
async fn a_merchants_sandbox_token_acts_on_its_own_orders_only() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    let (a, b) = (t.merchant(KeyMode::PublicKey).await?, t.merchant(KeyMode::PublicKey).await?);
    let token_a = app.store.merchant_sandbox_token(&a.created.mchid, &app.rng.token(32)).await?;
    parties::create_consumer(&app.store, &app.rng, "ivy", "ivy-password", 100_000, app.clock.business_now()).await?;
    let code_url = |r: TestResponse| r.json()["code_url"].as_str().unwrap_or_default().to_owned();
    let order_a = code_url(prepay(&t, &a, "SCOPEA0001").await?);
    let order_b = code_url(prepay(&t, &b, "SCOPEB0001").await?);
    let pay = |code_url: &str| {
        Request::builder()
            .method("POST")
            .uri("/sandbox/v1/pay")
            .header("authorization", format!("Bearer {token_a}"))
            .body(Body::from(json!({"code_url": code_url, "consumer": "ivy"}).to_string()))
    };
    let other = t.send(pay(&order_b)?).await?;
    assert_eq!((other.status, other.json()["code"].clone()), (StatusCode::NOT_FOUND, json!("ORDER_NOT_EXIST")));
    assert_eq!(t.send(pay(&order_a)?).await?.status, StatusCode::OK);
    let peek = |no: &str| {
        Request::builder()
            .uri(format!("/sandbox/v1/notifications?out_trade_no={no}"))
            .header("authorization", format!("Bearer {token_a}"))
            .body(Body::empty())
    };
    let own = t.send(peek("SCOPEA0001")?).await?;
    assert_eq!(own.json()["data"].as_array().map(Vec::len), Some(1), "{}", own.text());
    // The platform token still sees and does everything.
    let platform = Request::builder()
        .method("POST")
        .uri("/sandbox/v1/pay")
        .header("authorization", format!("Bearer {}", app.sandbox_token.expose()))
        .body(Body::from(json!({"code_url": order_b, "consumer": "ivy"}).to_string()))?;
    assert_eq!(t.send(platform).await?.status, StatusCode::OK);
    let theirs = t.send(peek("SCOPEB0001")?).await?;
    assert_eq!(theirs.json()["data"], json!([]), "another merchant's callbacks are invisible");
    Ok(())
}

#[tokio::test]
async fn a_days_bill_waits_until_every_node_has_left_the_day() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    // The test clock starts at 2026-11-24 12:00 +08:00; midnight is 12 h on.
    let midnight = koudai_testkit::START_UNIX_S + 12 * 3600;
    let bill = |t: &TestApp| t.signed(&m, "GET", "/v3/bill/tradebill?bill_date=2026-11-24", "");
    t.app.clock.set_wall(midnight + 2);
    let early = t.send(bill(&t)?).await?;
    assert_eq!(early.json()["message"], "账单日期须为已结束的自然日（次日生成）", "{}", early.text());
    t.app.clock.set_wall(midnight + 10);
    let later = t.send(bill(&t)?).await?;
    assert_eq!(later.json()["message"], "当日无账单数据", "{}", later.text());
    Ok(())
}

#[tokio::test]
async fn after_a_restart_a_replay_is_refused_and_an_earlier_stamp_is_not() -> R {
    use tower::ServiceExt as _;
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let now = t.app.clock.wall_now().unix();
    let body = native_body(&m, "RESTART001", 100);
    let signed = || t.signed_at(&m, "POST", "/v3/pay/transactions/native", &body, now, "restart-nonce");
    let first = t.send(signed()?).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    // The process restarts within the same second: a new surface with
    // empty caches over the same database.
    let restarted = || koudai_http::router(koudai_http::HttpState::new(std::sync::Arc::clone(&t.app)));
    let replay = restarted().oneshot(signed()?).await?;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "the identical bytes are a replay after the restart");
    // A request stamped a minute before the restart, inside the window, is
    // served like any other.
    let earlier = native_body(&m, "RESTART002", 100);
    let req = t.signed_at(&m, "POST", "/v3/pay/transactions/native", &earlier, now - 60, "earlier-nonce")?;
    let r = restarted().oneshot(req).await?;
    assert_eq!(r.status(), StatusCode::OK);
    Ok(())
}
