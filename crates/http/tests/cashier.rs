//! The cashier's rules, in process: a paid order shows that it is paid, a
//! wrong password is refused and throttled, a session's form needs its CSRF
//! token, and the session token is stored only as a digest.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

use koudai_app::parties;
use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp, TestResponse};

type R = Result<(), Error>;

async fn native_order(t: &TestApp, out_trade_no: &str) -> Result<String, Error> {
    let m = t.merchant(KeyMode::PublicKey).await?;
    let body = json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "Oolong", "out_trade_no": out_trade_no,
        "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 2599}
    })
    .to_string();
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body)?).await?;
    Ok(r.json()["code_url"].as_str().unwrap_or_default().rsplit('=').next().unwrap_or_default().to_owned())
}

fn form(pairs: &[(&str, &str)], cookie: Option<&str>) -> Result<Request<Body>, Error> {
    let body = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut req = Request::builder()
        .method("POST")
        .uri("/pay/confirm")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    Ok(req.body(Body::from(body))?)
}

fn session_cookie(r: &TestResponse) -> Option<String> {
    let set = r.header("set-cookie")?;
    set.split(';').next().map(str::to_owned)
}

/// `value="…"` of the input named `name` in a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = html.get(at + name.len() + 15..)?;
    rest.split('"').next().map(str::to_owned)
}

#[tokio::test]
async fn paying_then_reopening_shows_the_paid_state_not_a_qr_code() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    parties::create_consumer(&app.store, &app.rng, "erin", "erin-password", 100_000, app.clock.business_now()).await?;
    let token = native_order(&t, "CASH000001").await?;
    let page = t.send(TestApp::plain("GET", &format!("/pay/native?pr={token}"), "")?).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("<svg"), "an unpaid Native order shows its QR code");
    assert!(page.text().contains("/static/app.css"));

    let wrong =
        t.send(form(&[("kind", "native"), ("pr", &token), ("login", "erin"), ("password", "nope")], None)?).await?;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("账号或密码错误"));

    let paid = t
        .send(form(&[("kind", "native"), ("pr", &token), ("login", "erin"), ("password", "erin-password")], None)?)
        .await?;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text());
    assert!(paid.text().contains("支付成功"));
    let cookie = session_cookie(&paid).ok_or("a session cookie is set")?;
    assert!(paid.header("set-cookie").unwrap_or_default().contains("HttpOnly"));

    let again = t.send(TestApp::plain("GET", &format!("/pay/native?pr={token}"), "")?).await?;
    let html = again.text();
    assert_eq!(again.status, StatusCode::OK);
    assert!(html.contains("id=\"paid\""), "{html}");
    assert!(!html.contains("<svg") && !html.contains("class=\"error\""), "no QR code and no red error: {html}");

    // The token in the cookie is not what the database holds.
    let raw = cookie.split('=').nth(1).unwrap_or_default().to_owned();
    assert!(app
        .store
        .session(koudai_store::SessionRealm::Consumer, &raw, app.clock.wall_now().unix())
        .await?
        .is_none());
    Ok(())
}

#[tokio::test]
async fn a_session_form_without_its_csrf_token_is_refused() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    parties::create_consumer(&app.store, &app.rng, "fay", "fay-password", 100_000, app.clock.business_now()).await?;
    let first = native_order(&t, "CSRF000001").await?;
    let paid = t
        .send(form(&[("kind", "native"), ("pr", &first), ("login", "fay"), ("password", "fay-password")], None)?)
        .await?;
    let cookie = session_cookie(&paid).ok_or("a session cookie is set")?;

    let second = native_order(&t, "CSRF000002").await?;
    let page = t
        .send({
            let mut req = TestApp::plain("GET", &format!("/pay/native?pr={second}"), "")?;
            req.headers_mut().insert(header::COOKIE, cookie.parse()?);
            req
        })
        .await?;
    let csrf = input_value(&page.text(), "csrf").ok_or("the session's form carries a CSRF token")?;
    let forged = t.send(form(&[("kind", "native"), ("pr", &second), ("csrf", "forged")], Some(&cookie))?).await?;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.text().contains("页面已过期"));
    let good = t.send(form(&[("kind", "native"), ("pr", &second), ("csrf", &csrf)], Some(&cookie))?).await?;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text());
    assert!(good.text().contains("支付成功"));
    Ok(())
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_login() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    parties::create_consumer(&app.store, &app.rng, "gus", "gus-password", 100_000, app.clock.business_now()).await?;
    let token = native_order(&t, "THRO000001").await?;
    let attempt = |password: &'static str| {
        form(&[("kind", "native"), ("pr", &token), ("login", "gus"), ("password", password)], None)
    };
    for _ in 0..5 {
        assert_eq!(t.send(attempt("wrong")?).await?.status, StatusCode::UNAUTHORIZED);
    }
    let locked = t.send(attempt("gus-password")?).await?;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits out the window");
    app.clock.set_wall(koudai_testkit::START_UNIX_S + 15 * 60);
    assert_eq!(t.send(attempt("gus-password")?).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_missing_order_is_a_404_page() -> R {
    let t = TestApp::sandbox().await?;
    let r = t.send(TestApp::plain("GET", "/pay/native?pr=nothing", "")?).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("订单不存在"));
    let r = t.send(TestApp::plain("GET", "/pay/native", "")?).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn a_jsapi_order_opens_only_through_the_bridge_and_pages_refuse_framing() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    let m = t.merchant(KeyMode::PublicKey).await?;
    parties::create_consumer(&app.store, &app.rng, "hal", "hal-password", 100_000, app.clock.business_now()).await?;
    let openid = parties::openid_for(&app.store, &app.rng, "hal", &m.appid).await?;
    let body = json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "Pu'er", "out_trade_no": "JSAPI00001",
        "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 500}, "payer": {"openid": openid}
    })
    .to_string();
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/jsapi", &body)?).await?;
    let prepay_id = r.json()["prepay_id"].as_str().unwrap_or_default().to_owned();
    assert!(prepay_id.starts_with("wx"), "{}", r.text());
    // Its prepay_id on the H5 cashier would skip the merchant's paySign.
    let h5 = t.send(TestApp::plain("GET", &format!("/pay/h5?prepay_id={prepay_id}"), "")?).await?;
    assert_eq!(h5.status, StatusCode::NOT_FOUND);
    assert_eq!(h5.header("x-frame-options"), Some("DENY"));
    assert!(h5.header("content-security-policy").unwrap_or_default().contains("frame-ancestors 'none'"));
    // The overlay may be framed by the merchant's page; it still wants paySign.
    let overlay = t.send(TestApp::plain("GET", &format!("/pay/jsapi?package=prepay_id%3D{prepay_id}"), "")?).await?;
    assert_eq!(overlay.status, StatusCode::BAD_REQUEST);
    assert_eq!(overlay.header("x-frame-options"), None);
    assert!(overlay.header("content-security-policy").unwrap_or_default().contains("frame-ancestors *"));
    Ok(())
}
