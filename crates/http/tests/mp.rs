//! The Official Account surface in process: the IP allow-list, the daily
//! quota, and hostile input answered with errcodes, never a 5xx.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp};

type R = Result<(), Error>;

koudai_testkit::on_both_engines!(
    nul_characters_in_token_requests_get_errcodes,
    hostile_forms_on_account_pages_get_client_errors
);

async fn account(t: &TestApp) -> Result<koudai_store::MpAccount, Error> {
    let m = t.merchant(KeyMode::PublicKey).await?;
    let app = &t.app;
    Ok(koudai_app::mp::create_account(
        &app.store,
        &app.rng,
        &m.appid,
        &m.created.mchid,
        "Test OA",
        app.clock.wall_now(),
    )
    .await?)
}

fn get(path: &str, from: Option<&str>) -> Result<Request<Body>, Error> {
    let mut req = Request::builder().uri(path).body(Body::empty())?;
    if let Some(ip) = from {
        req.extensions_mut().insert(ConnectInfo(format!("{ip}:40000").parse::<std::net::SocketAddr>()?));
    }
    Ok(req)
}

async fn errcode(t: &TestApp, req: Request<Body>) -> Result<(StatusCode, Value), Error> {
    let r = t.send(req).await?;
    Ok((r.status, r.json()))
}

#[tokio::test]
async fn the_ip_allow_list_guards_the_token() -> R {
    let t = TestApp::sandbox().await?;
    let a = account(&t).await?;
    t.app.store.set_mp_ip_allowlist(&a.appid, "10.1.2.3, 192.0.2.7").await?;
    let path = format!("/cgi-bin/token?grant_type=client_credential&appid={}&secret={}", a.appid, a.secret);
    let (status, v) = errcode(&t, get(&path, Some("198.51.100.9"))?).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["errcode"], 40164);
    assert!(v["errmsg"].as_str().unwrap_or_default().contains("198.51.100.9"), "{v}");
    let (_, v) = errcode(&t, get(&path, Some("192.0.2.7"))?).await?;
    assert!(v["access_token"].is_string(), "{v}");
    Ok(())
}

#[tokio::test]
async fn the_daily_quota_is_counted_per_api_on_the_business_clock() -> R {
    let t = TestApp::sandbox().await?;
    let a = account(&t).await?;
    let limit = koudai_domain::mp::rules().daily_quota["token"];
    let path = format!("/cgi-bin/token?grant_type=client_credential&appid={}&secret={}", a.appid, a.secret);
    for _ in 0..limit {
        let (_, v) = errcode(&t, get(&path, None)?).await?;
        assert!(v["access_token"].is_string(), "{v}");
    }
    let (_, v) = errcode(&t, get(&path, None)?).await?;
    assert_eq!(v["errcode"], 45009);
    // The next business day has a fresh quota.
    t.app.clock.advance(&t.app.store, 86_400).await?;
    let (_, v) = errcode(&t, get(&path, None)?).await?;
    assert!(v["access_token"].is_string(), "{v}");
    Ok(())
}

#[tokio::test]
async fn hostile_input_gets_errcodes_never_a_5xx() -> R {
    let t = TestApp::sandbox().await?;
    let a = account(&t).await?;
    // Verified, so the store calls get past the e-commerce rules to their bodies.
    koudai_app::access::eligibility::set_verified(
        &t.app.store,
        &a.appid,
        true,
        "test",
        t.app.clock.business_now().unix(),
    )
    .await?;
    let path = format!("/cgi-bin/token?grant_type=client_credential&appid={}&secret={}", a.appid, a.secret);
    let token = t.send(get(&path, None)?).await?.json()["access_token"].as_str().unwrap_or_default().to_owned();
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let bodies = [
        "",
        "   ",
        "null",
        "[]",
        "\"x\"",
        "{",
        &deep,
        "{\"button\":\"x\"}",
        "{\"button\":[{\"name\":\"\\u0000\"}]}",
        "{\"menuid\":{}}",
        "{\"user_id\":12}",
        "{\"grant_type\":[],\"appid\":{}}",
    ];
    let posts = [
        "/cgi-bin/menu/create",
        "/cgi-bin/menu/addconditional",
        "/cgi-bin/menu/delconditional",
        "/cgi-bin/menu/trymatch",
        "/cgi-bin/stable_token",
        "/cgi-bin/qrcode/create",
        "/cgi-bin/poi/addpoi",
        "/cgi-bin/poi/getpoi",
        "/cgi-bin/poi/getpoilist",
        "/cgi-bin/poi/updatepoi",
        "/cgi-bin/poi/delpoi",
        "/cgi-bin/media/uploadimg",
    ];
    for path in posts {
        for body in bodies {
            let req = Request::builder()
                .method("POST")
                .uri(format!("{path}?access_token={token}"))
                .header("content-type", "text/plain")
                .body(Body::from(body.to_owned()))?;
            let r = t.send(req).await?;
            assert_eq!(r.status, StatusCode::OK, "{path} {body:.40}");
            assert!(r.json()["errcode"].is_i64(), "{path} {body:.40}: {}", r.text());
        }
    }
    for path in [
        "/cgi-bin/menu/get?access_token=%00".to_owned(),
        format!("/cgi-bin/menu/get?access_token={}", "x".repeat(5000)),
        "/cgi-bin/token?grant_type=client_credential&appid=%FF&secret=%00".to_owned(),
        "/cgi-bin/get_current_selfmenu_info?access_token=a&access_token=b".to_owned(),
        "/cgi-bin/token?grant_type=client_credential&appid=wx%00x&secret=s".to_owned(),
    ] {
        let r = t.send(get(&path, None)?).await?;
        let v = r.json();
        assert!(
            r.status.as_u16() < 500 && v["errcode"].is_i64() && v["errcode"] != -1,
            "{path}: {} {}",
            r.status,
            r.text()
        );
    }
    Ok(())
}

/// NUL characters (which PostgreSQL cannot store) in token requests get
/// an errcode, never a system error.
async fn nul_characters_in_token_requests_get_errcodes(t: TestApp) -> R {
    let a = account(&t).await?;
    for path in [
        "/cgi-bin/token?grant_type=client_credential&appid=wx%00x&secret=s".to_owned(),
        format!("/cgi-bin/token?grant_type=client_credential&appid={}&secret=%00", a.appid),
        "/cgi-bin/menu/get?access_token=%00".to_owned(),
    ] {
        let v = t.send(get(&path, None)?).await?.json();
        assert!(v["errcode"].is_i64() && v["errcode"] != -1, "{path}: {v}");
    }
    Ok(())
}

/// The consumer-facing pages of accounts and OAuth with hostile forms:
/// client errors, never a 5xx, on either engine.
async fn hostile_forms_on_account_pages_get_client_errors(t: TestApp) -> R {
    let a = account(&t).await?;
    let forms: Vec<(String, &str)> = vec![
        (
            "/connect/oauth2/authorize".into(),
            "appid=wx%00&scope=snsapi_base&redirect_uri=http%3A%2F%2Fx&login=a&password=b",
        ),
        ("/connect/oauth2/authorize".into(), "login=a%00b&password=x"),
        (format!("/mp/{}/login", a.appid), "login=al%00ice&password=x"),
        (format!("/mp/{}/message", a.appid), "csrf=x&content=hi%00"),
        (format!("/mp/{}/click", a.appid), "csrf=x&key=K"),
        ("/mp/%00/follow".into(), "csrf=x"),
        ("/mp/wx-nope/follow".into(), "csrf=x"),
    ];
    for (path, body) in forms {
        let req = Request::builder()
            .method("POST")
            .uri(&path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))?;
        let r = t.send(req).await?;
        assert!(r.status.is_client_error(), "{path} {body}: {} {}", r.status, r.text());
    }
    for path in [
        "/connect/oauth2/authorize?appid=%FF&redirect_uri=x&scope=snsapi_base".to_owned(),
        format!("/connect/oauth2/authorize?appid={}&redirect_uri=javascript:alert(1)&scope=snsapi_base", a.appid),
        format!("/connect/oauth2/authorize?appid={}&redirect_uri=http%3A%2F%2Fx&scope=snsapi_god", a.appid),
        "/mp/%FF%FE".to_owned(),
    ] {
        let r = t.send(get(&path, None)?).await?;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
    }
    Ok(())
}

#[tokio::test]
async fn showqrcode_answers_404_for_anything_not_a_live_ticket() -> R {
    let t = TestApp::sandbox().await?;
    let long = "A".repeat(5000);
    for ticket in ["", "%00", "gQH47%2F%2B%3D%3D", "..%2F..%2Fetc%2Fpasswd", long.as_str()] {
        let r = t.send(get(&format!("/cgi-bin/showqrcode?ticket={ticket}"), None)?).await?;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{ticket:.20}");
    }
    Ok(())
}
